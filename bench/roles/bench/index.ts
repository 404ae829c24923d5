import { fileURLToPath } from 'node:url';
import type { Role } from '../../../lib/run/types.ts';
import { command, copy, directory, line, template } from '../../../lib/steps/index.ts';
import { q } from '../../../lib/transport/shell.ts';

/** bench/files/<name>, the same files the Ansible playbook copies. */
const local = (name: string) => fileURLToPath(new URL(`../../files/${name}`, import.meta.url));

/**
 * The 25-step benchmark role, harbormaster side; the same steps as bench/ansible/playbook.yml.
 * Templates come from bench/templates/bench/ (role.mts runs with bench/ as its directory).
 * The Ansible play's "stat + task with when" is one step here: `when` is a shell test on the host.
 */
const bench: Role = {
  name: 'bench',
  hosts: 'all',
  defaults: {
    bench_root: '/srv/bench-hm',
    app_name: 'harbor-bench',
    app_port: 5000,
    workers: 4,
    upstreams: ['alpha', 'beta', 'gamma'],
  },
  steps: ({ vars }) => {
    const root = String(vars.bench_root);
    const settings = `${root}/conf/settings.ini`;
    return [
      directory({ path: `${root}/conf`, mode: '0755' }),
      directory({ path: `${root}/data`, mode: '0750' }),
      directory({ path: `${root}/logs`, mode: '0755' }),
      directory({ path: `${root}/run`, mode: '0755' }),
      directory({ path: `${root}/www`, mode: '0755' }),

      template({ src: 'app.conf', dest: `${root}/conf/app.conf`, mode: '0644', notify: ['reload app'] }),
      template({ src: 'upstreams.conf', dest: `${root}/conf/upstreams.conf`, mode: '0644' }),
      template({ src: 'env', dest: `${root}/conf/env`, mode: '0600' }),
      template({ src: 'index.html', dest: `${root}/www/index.html`, mode: '0644' }),
      template({ src: 'motd', dest: `${root}/run/motd`, mode: '0644' }),

      copy({ src: local('logo.svg'), dest: `${root}/www/logo.svg`, mode: '0644' }),
      copy({ src: local('style.css'), dest: `${root}/www/style.css`, mode: '0644' }),
      copy({ src: local('robots.txt'), dest: `${root}/www/robots.txt`, mode: '0644' }),
      copy({ src: local('mime.types'), dest: `${root}/conf/mime.types`, mode: '0644' }),
      copy({ src: local('healthcheck.sh'), dest: `${root}/run/healthcheck.sh`, mode: '0755' }),

      line({ path: settings, line: `listen = 0.0.0.0:${vars.app_port}`, regexp: '^listen\\s*=', create: true, mode: '0644' }),
      line({ path: settings, line: `workers = ${vars.workers}`, regexp: '^workers\\s*=' }),
      line({ path: settings, line: 'log_level = info', regexp: '^log_level\\s*=' }),
      line({ path: settings, line: `data_dir = ${root}/data`, regexp: '^data_dir\\s*=' }),
      line({ path: settings, line: 'gc_enabled = true' }),

      command({ cmd: `dd if=/dev/zero of=${q(`${root}/data/seed.bin`)} bs=4096 count=16`, creates: `${root}/data/seed.bin` }),
      command({ cmd: `tar -czf ${q(`${root}/data/www.tgz`)} -C ${q(root)} www`, creates: `${root}/data/www.tgz` }),
      command({ cmd: `cp /etc/hostname ${q(`${root}/run/hostname`)}`, creates: `${root}/run/hostname` }),

      copy({ content: `seed=${root}/data/seed.bin\n`, dest: `${root}/data/seed.info`, mode: '0644', when: `test -e ${q(`${root}/data/seed.bin`)}` }),
    ];
  },
  handlers: ({ vars }) => [command({ name: 'reload app', cmd: `touch ${q(`${vars.bench_root}/run/app.reloaded`)}` })],
};

export default bench;
