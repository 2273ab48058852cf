"""Framework glue for prefork's shared stores: a Django cache backend
(``prefork.contrib.django``) and a Flask-Caching backend
(``prefork.contrib.flask``). Each module imports its framework; nothing here
is loaded unless the application names it.
"""
