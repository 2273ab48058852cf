#!/usr/bin/env bash
# Install the servers that prefork is measured against, and the load tools.
#
# Idempotent: run it as often as you like. Debian packages go on the system;
# the Python peers go into their own venv, bench/.venv, so their versions of
# shared libraries (Flask, httptools, ...) never leak into prefork's tests.
# prefork goes into the same venv as the working tree itself (so the
# benchmark always measures it): every server then starts from the same
# interpreter and site-packages, and resident memory compares like for like.
#
# A peer that fails to install is reported and skipped; the harness later
# notes it as "not installed" in the report instead of crashing.
set -u

here="$(cd "$(dirname "$0")" && pwd)"
venv="$here/.venv"

apt_install() {
    # Only touch apt when something is missing: apt-get update is slow.
    local missing=()
    for pkg in "$@"; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "apt: installing ${missing[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
}

apt_install wrk nginx-light libev-dev util-linux || echo "WARNING: apt install failed"

[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
pip="$venv/bin/pip"
"$pip" install -q --upgrade pip >/dev/null 2>&1 || true

# prefork itself: the checkout's extensions built in place, the checkout put
# on the venv's path by a .pth file and a prefork-serve script beside the
# other servers'. That is what a site-packages install looks like to the
# interpreter. (pip install -e would add an import finder that loads pathlib
# and urllib into every process: 0.6 MiB per worker that no production
# install carries, and the memory columns would be off by that much.)
checkout="$(cd "$here/.." && pwd)"
if "$pip" uninstall -q -y prefork >/dev/null 2>&1; then :; fi
if "$pip" install -q setproctitle Cython setuptools >/tmp/prefork-bench-pip.log 2>&1 \
        && (cd "$checkout" && "$venv/bin/python" setup.py -q build_ext --inplace) >>/tmp/prefork-bench-pip.log 2>&1; then
    site="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
    echo "$checkout" >"$site/prefork-checkout.pth"
    printf '#!%s\nimport sys\nfrom prefork.cli import main\nsys.exit(main())\n' \
        "$venv/bin/python" >"$venv/bin/prefork-serve"
    chmod +x "$venv/bin/prefork-serve"
else
    echo "WARNING: prefork did not install into the venv:"; tail -n 3 /tmp/prefork-bench-pip.log
fi

# The harness's own needs, plus the app frameworks used by apps/.
"$pip" install -q matplotlib flask fastapi uvloop 2>/dev/null \
    || echo "WARNING: matplotlib/flask/fastapi/uvloop failed"

# Each peer alone, so one failure does not hide the others.
failed=()
for spec in gunicorn granian waitress "uvicorn[standard]" wsproto httptools hypercorn bjoern; do
    if ! "$pip" install -q "$spec" >/tmp/prefork-bench-pip.log 2>&1; then
        echo "WARNING: $spec did not install (last lines of pip's log):"
        tail -n 3 /tmp/prefork-bench-pip.log | sed 's/^/    /'
        failed+=("$spec")
    fi
done

# meinheld 1.0.2 (the last release) pins greenlet<0.5, which does not compile
# on Python 3.11. Its own C code builds fine against a current greenlet, so
# install it without its pin; if even that fails, it is skipped.
if ! "$venv/bin/python" -c "import meinheld" 2>/dev/null; then
    if ! { "$pip" install -q greenlet && "$pip" install -q --no-deps meinheld; } >/tmp/prefork-bench-pip.log 2>&1; then
        echo "WARNING: meinheld did not install (last lines of pip's log):"
        tail -n 3 /tmp/prefork-bench-pip.log | sed 's/^/    /'
        failed+=("meinheld")
    fi
fi

echo "peers venv: $venv"
"$venv/bin/python" - <<'EOF'
import importlib, importlib.metadata
for name in ("gunicorn", "granian", "waitress", "uvicorn", "websockets", "wsproto", "httptools",
             "hypercorn", "uvloop",
             "fastapi", "bjoern", "meinheld", "flask", "matplotlib"):
    try:
        importlib.import_module(name)
        print(f"  {name:11s} {importlib.metadata.version(name)}")
    except Exception as exc:  # report, never stop: missing peers are skipped
        print(f"  {name:11s} MISSING ({type(exc).__name__}: {exc})")
EOF
[ ${#failed[@]} -eq 0 ] || echo "not installed: ${failed[*]}"
exit 0
