import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { Role } from '../../lib/run/types.ts';
import { command, copy, directory, download, file, line, pkg, service, template, unarchive } from '../../lib/steps/index.ts';

const local = (name: string) => fileURLToPath(new URL(`./files/${name}`, import.meta.url));

/** The page the demo server serves, and that the host then downloads from it (checked by sha256). */
const INDEX_HTML = '<!doctype html>\n<title>harbormaster demo</title>\n<p>It works.</p>\n';
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/**
 * Shows every step kind on any host: a tiny init-script web server configured by a template
 * (restarted by a handler when its config changes), serving a page the host downloads back.
 */
const demo: Role = {
  name: 'demo',
  hosts: 'all',
  defaults: {
    demo_root: '/opt/demo',
    demo_port: 8099,
    demo_greeting: 'hello from harbormaster',
    demo_features: ['static', 'archive'],
  },
  steps: ({ vars }) => {
    const root = String(vars.demo_root);
    return [
      pkg({ packages: ['openssh-client'], tags: ['packages'] }),
      directory({ path: root, mode: '0755' }),
      directory({ path: `${root}/conf`, mode: '0750' }),
      directory({ path: `${root}/www`, mode: '0755' }),
      file({ path: `${root}/obsolete.txt`, state: 'absent' }),
      template({ src: 'demo.conf.njk', dest: `${root}/conf/demo.conf`, mode: '0640', notify: ['restart demo'], tags: ['config'] }),
      line({ path: `${root}/conf/settings.ini`, line: '[demo]', create: true, mode: '0644', tags: ['config'] }),
      line({ path: `${root}/conf/settings.ini`, regexp: '^mode=', line: 'mode=production', tags: ['config'] }),
      line({ path: `${root}/conf/settings.ini`, line: 'debug=true', state: 'absent', tags: ['config'] }),
      copy({ dest: '/etc/init.d/demo', src: local('demo.init'), mode: '0755', notify: ['restart demo'] }),
      copy({ dest: `${root}/www/index.html`, content: INDEX_HTML, mode: '0644' }),
      copy({ dest: `${root}/site.tar.gz`, src: local('site.tar.gz'), mode: '0644' }),
      unarchive({ src: `${root}/site.tar.gz`, dest: `${root}/www` }),
      service({ service: 'demo', state: 'started', enabled: true, when: 'command -v python3', tags: ['service'] }),
      download({ url: `http://127.0.0.1:${vars.demo_port}/index.html`, dest: `${root}/downloaded.html`, sha256: sha256(INDEX_HTML) }),
      command({ cmd: `date -u +%FT%TZ > ${root}/installed-at`, creates: `${root}/installed-at` }),
      command({ cmd: `echo ${root} >> /etc/demo-roots`, unless: `grep -qx ${root} /etc/demo-roots` }),
    ];
  },
  handlers: () => [service({ name: 'restart demo', service: 'demo', state: 'restarted' })],
};

export default demo;
