"""``--user`` / ``--group``: the master binds (possibly privileged ports) and
writes its pid file as the starting user, then switches for good, before
the app is imported or any worker is forked. A later HUP therefore cannot
bind new privileged ports."""
import os


def drop_privileges(settings):
    uid, gid = settings.user, settings.group
    if gid != "":
        os.setgroups([])
        os.setgid(gid)
    if uid != "":
        if gid == "":
            import pwd
            gid = pwd.getpwuid(uid).pw_gid
            os.setgroups([])
            os.setgid(gid)
        os.setuid(uid)
