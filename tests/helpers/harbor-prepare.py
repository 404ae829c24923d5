"""Runs Harbor's own prepare program (photon/prepare of its installer, the code the
goharbor/prepare image runs) on this machine, with the container paths it has fixed in g.py and
in a few modules (/input, /data, /config, /compose_location, /hostfs, /usr/src/app) moved to host
directories, as the installer's `docker run -v HOST:CONTAINER` mounts would place them.

usage: harbor-prepare.py PREPARE_DIR CONTAINER=HOST... -- MAIN_ARGS...
  MAIN_ARGS are main.py's: `prepare [--with-trivy]`, `migrate -i FILE -o FILE -t VERSION`.
Any warning or error Harbor logs fails the run (exit 3): what would scroll by in install.sh's
output is a failure here.
Run with the system python3, whose site-packages hold Debian's yaml, jinja2, click, packaging.
"""
import logging
import os
import sys
from pathlib import Path

prepare_dir, *rest = sys.argv[1:]
split = rest.index('--')
mounts = dict(m.split('=', 1) for m in rest[:split])
args = rest[split + 1:]
# The image's own files: templates (and versions, absent from a source tree) under /usr/src/app.
mounts.setdefault('/usr/src/app', prepare_dir)


def host(path):
    """A container path as the host sees it through the mounts (the longest mount point wins)."""
    path = str(path)
    for point in sorted(mounts, key=len, reverse=True):
        if path == point or path.startswith(point.rstrip('/') + '/'):
            return Path(mounts[point]).joinpath(path[len(point):].lstrip('/'))
    raise SystemExit(f'harbor-prepare.py: {path} is outside every mount {sorted(mounts)}')


sys.path.insert(0, prepare_dir)
import g  # noqa: E402  (must be redirected before any module imports its names)

for name in ('templates_dir', 'host_root_dir', 'config_dir', 'data_dir', 'secret_dir', 'secret_key_dir',
             'trust_ca_dir', 'internal_tls_dir', 'old_private_key_pem_path', 'old_crt_path',
             'private_key_pem_path', 'root_crt_path', 'versions_file_path', 'cert_dir', 'core_cert_dir',
             'shared_cert_dir'):
    setattr(g, name, host(getattr(g, name)))
g.config_file_path = str(host(g.config_file_path))
g.input_config_path = str(host(g.input_config_path))

import utils.docker_compose  # noqa: E402
import utils.jobservice  # noqa: E402
import utils.misc  # noqa: E402

# The two paths written as literals rather than taken from g.
utils.docker_compose.docker_compose_yml_path = str(host(utils.docker_compose.docker_compose_yml_path))
# jobservice's job_logs is the literal '/data/job_logs'; its other directories come from g already.
utils.jobservice.prepare_dir = lambda root, *a, **kw: utils.misc.prepare_dir(
    str(host(root)) if root.startswith('/data/') else root, *a, **kw)

warnings = []


class Record(logging.StreamHandler):
    """Shows what Harbor logs (as Python's last-resort handler would) and keeps its warnings."""
    def emit(self, record):
        super().emit(record)
        if record.levelno >= logging.WARNING:
            warnings.append(self.format(record))


logging.getLogger().addHandler(Record(sys.stderr))
# migrate writes its intermediate files into the working directory (/usr/src/app in the image).
os.chdir(mounts.get('/work', os.getcwd()))

import main  # noqa: E402

try:
    main.cli.main(args=args, prog_name='main.py', standalone_mode=False)
    code = 0
except SystemExit as e:
    if e.code is not None and not isinstance(e.code, int):
        print(e.code, file=sys.stderr)
    code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
if code == 0 and warnings:
    print('harbor-prepare.py: Harbor logged: ' + ' | '.join(warnings), file=sys.stderr)
    code = 3
sys.exit(code)
