// The Django state tree (states/) with each shipped inventory: every host
// compiles (schemas, templates, requisites, no cycle), and what each role
// gets is what the architecture asks for. No host is contacted.

import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { prepareHosts } from '../../src/engine/run.js';
import { loadInventory } from '../../src/inventory/inventory.js';
import { loadStateTree } from '../../src/state/states.js';
import type { Resource } from '../../src/state/compile.js';

const ROOT = join(import.meta.dirname, '../..');
const LOGIN_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBaL1QyUMyqcz1lwIumeuFJ3vQGfrdhEFsDMnF7eXKy7 converge-test';

/**
 * Compile every host of an inventory from inventories/, with its secrets
 * replaced by inline values (production reads them from the environment and
 * files that do not exist here) and, when asked, extra files in a copy of
 * the state tree.
 */
function compile(name: string, extraStateFiles: Record<string, string> = {}, vars: Record<string, unknown> = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'converge-django-states-'));
  let states = join(ROOT, 'states');
  if (Object.keys(extraStateFiles).length) {
    states = join(dir, 'states');
    cpSync(join(ROOT, 'states'), states, { recursive: true });
    for (const [f, text] of Object.entries(extraStateFiles)) writeFileSync(join(states, f), text);
  }
  const doc = parse(readFileSync(join(ROOT, 'inventories', name), 'utf8'));
  doc.states = states;
  // The demo's login account takes this checkout's test key (.cache/test-key.pub,
  // made by the integration setup): here a fixed key stands in for it.
  doc.vars.developers = doc.vars.developers.map((d: { name: string; keys: string[] }) =>
    d.keys.some((k) => k.includes("lookup('file', '../.cache/test-key.pub')")) ? { ...d, keys: [LOGIN_KEY] } : d,
  );
  Object.assign(doc.vars, vars);
  doc.secrets = Object.fromEntries(Object.keys(doc.secrets ?? {}).map((k) => [k, { value: `secret-${k}` }]));
  writeFileSync(join(dir, 'inventory.yaml'), stringify(doc));
  const inv = loadInventory(join(dir, 'inventory.yaml'));
  const prepared = prepareHosts(inv, loadStateTree(states, inv.roles), inv.hosts);
  const hosts = new Map(prepared.map((p) => [p.host.name, new Map(p.graph.order.map((r) => [r.id, r]))]));
  return (host: string) => hosts.get(host)!;
}

const ids = (rs: Map<string, Resource>) => [...rs.keys()];
const spec = (rs: Map<string, Resource>, id: string) => {
  const r = rs.get(id);
  if (!r) throw new Error(`no resource ${id} (have ${ids(rs).join(', ')})`);
  return r.spec;
};

describe('states/ with inventories/demo.yaml', () => {
  const host = compile('demo.yaml');

  it('gives every host the base states', () => {
    for (const h of ['lb-1', 'web-1', 'web-2', 'worker-1', 'queue-1', 'db-1', 'db-2']) {
      const rs = host(h);
      expect(ids(rs)).toEqual(expect.arrayContaining(['project-user', 'developer-alice', 'developer-bob', 'sshd-hardening', 'firewall', 'security-upgrades', 'timezone', 'locale', 'rsyslog-forward', 'postfix-service']));
      expect(spec(rs, 'developer-alice')).toMatchObject({ sudo: 'nopasswd', exclusive_keys: true });
      // The demo logs in as the developer deploy and uses sudo: no root login at all.
      expect(spec(rs, 'sshd-hardening').settings).toMatchObject({ PermitRootLogin: 'no', PasswordAuthentication: false });
      expect(spec(rs, 'developer-deploy')).toMatchObject({ sudo: 'nopasswd', exclusive_keys: true });
      expect(spec(rs, 'developer-deploy').ssh_keys).toEqual([LOGIN_KEY]);
      // Hardening is on, but for what a container cannot do (kernel-wide sysctls, auditd).
      expect(spec(rs, 'sshd-crypto-and-limits').settings).toMatchObject({ MaxAuthTries: 3, AllowTcpForwarding: false, Banner: '/etc/issue.net' });
      expect(ids(rs)).toEqual(expect.arrayContaining(['fail2ban-service', 'issue', 'issue-net', 'no-core-dumps', 'postfix-banner', 'needrestart', 'security-updates-first-converge', 'sysctl-net-net.ipv4.tcp_syncookies']));
      expect(ids(rs).filter((id) => id.startsWith('sysctl-kernel-') || id.startsWith('auditd'))).toEqual([]);
      // Forwarding off first: changing it resets net.ipv4.conf.all.accept_redirects.
      expect(spec(rs, 'sysctl-net-ip-forward')).toEqual({ name: 'net.ipv4.ip_forward', value: 0 });
      expect(rs.get('sysctl-net-net.ipv4.conf.all.accept_redirects')!.requisites.require).toEqual(['sysctl-net-ip-forward']);
      expect(ids(rs).indexOf('sysctl-net-ip-forward')).toBeLessThan(ids(rs).indexOf('sysctl-net-net.ipv4.conf.all.accept_redirects'));
      expect(spec(rs, 'blocked-kernel-modules').content).toContain('install dccp /bin/true\n');
      // Login shells: no core dumps, idle interactive shells end (readonly TMOUT, set once per shell).
      expect(spec(rs, 'login-shell-limits').content).toBe(
        '# Managed by converge (states/hardening/system.yaml).\nulimit -c 0 2>/dev/null\nif [ "${TMOUT:-}" != 900 ]; then\n  readonly TMOUT=900\n  export TMOUT\nfi\n',
      );
      expect(spec(rs, 'security-upgrades').blacklist).toContain('salt-.*');
      // The monitoring agents are off by default.
      expect(ids(rs).filter((id) => id.startsWith('newrelic'))).toEqual([]);
    }
  });

  it('opens only the ports each host serves', () => {
    const ports = (h: string) => spec(host(h), 'firewall').rules.map((r: any) => `${r.port}${r.from ? ` from ${r.from}` : ''}`);
    expect(ports('lb-1')).toEqual(['80', '443', '22']);
    expect(ports('web-1')).toEqual(['80 from 172.30.77.0/24', '443 from 172.30.77.0/24', '22']);
    expect(ports('worker-1')).toEqual(['22']);
    expect(ports('queue-1')).toEqual(['5672 from 172.30.77.0/24', '11211 from 172.30.77.0/24', '6379 from 172.30.77.0/24', '22', '514 from 172.30.77.0/24']);
    expect(ports('db-1')).toEqual(['5432 from 172.30.77.0/24', '22']);
    expect(spec(host('db-1'), 'firewall')).toMatchObject({ enabled: true, default: { incoming: 'deny' }, purge: true });
  });

  it('runs the migrations on one web host and celery beat on one worker', () => {
    expect(ids(host('web-1'))).toContain('migrate');
    expect(ids(host('web-2'))).not.toContain('migrate');
    expect(ids(host('worker-1'))).toEqual(expect.arrayContaining(['celery-worker', 'celery-beat']));
    expect(ids(host('web-1'))).not.toContain('celery-worker');
  });

  it('puts haproxy in front of both web hosts, with health checks, passing TLS through', () => {
    const cfg = spec(host('lb-1'), 'haproxy-cfg').content as string;
    expect(cfg).toMatch(/^\s+server web-1 web-1:80 check inter 2s fall 3 rise 2 port 443 check-ssl check-sni myproj\.localhost verify none$/m);
    expect(cfg).toMatch(/^\s+server web-2 web-2:443 check /m);
    expect(cfg).toMatch(/^\s+mode tcp$/m);
    expect(cfg).toContain('http-check send meth GET uri /healthz ver HTTP/1.1 hdr Host myproj.localhost');
  });

  it('answers unknown hosts with 444 and forces TLS with HSTS in nginx', () => {
    const site = spec(host('web-1'), 'nginx-site').content as string;
    expect(site).toMatch(/listen 80 default_server;\s+server_name _;\s+return 444;/);
    expect(site).toContain('ssl_reject_handshake on;');
    expect(site).toContain('return 301 https://$host:8443$request_uri;');
    expect(site).toContain('add_header Strict-Transport-Security "max-age=31536000; includeSubDomains" always;');
    expect(site).toContain('alias /srv/myproj/static/;');
    expect(site).toContain('server unix:/srv/myproj/run/gunicorn.sock');
  });

  it('runs gunicorn and celery as the runtime user, restarted by code and settings changes', () => {
    const gunicorn = host('web-1').get('gunicorn')!;
    expect(gunicorn.spec).toMatchObject({ name: 'myproj-gunicorn', user: 'myproj-run', directory: '/srv/myproj/src' });
    expect(gunicorn.spec.command).toBe('/srv/myproj/venv/bin/python -m gunicorn --bind unix:/srv/myproj/run/gunicorn.sock --workers 2 --access-logfile - --error-logfile - demo.wsgi:application');
    expect(gunicorn.requisites.watch).toEqual(['app-code', 'app-env']);
    expect(host('worker-1').get('celery-worker')!.requisites.watch).toEqual(['app-code', 'app-env']);
    expect(spec(host('web-1'), 'media')).toMatchObject({ owner: 'myproj-run', mode: '0755' });
    expect(host('web-1').get('collectstatic')!.requisites.onchanges).toEqual(['app-code']);
  });

  it('points the app at the primary, the replica, rabbitmq and both caches, in a secret file', () => {
    const env = host('web-1').get('app-env')!;
    expect(env.sensitive).toBe(true);
    expect(env.spec).toMatchObject({ path: '/srv/myproj/env', owner: 'root', group: 'myproj', mode: '0640', sensitive: true });
    expect(env.spec.content).toContain('DATABASE_URL=postgres://myproj:secret-db_password@db-1:5432/myproj\n');
    expect(env.spec.content).toContain('DATABASE_REPLICA_URL=postgres://myproj:secret-db_password@db-2:5432/myproj\n');
    expect(env.spec.content).toContain('CELERY_BROKER_URL=amqp://myproj:secret-rabbitmq_password@queue-1:5672/myproj\n');
    expect(env.spec.content).toContain('MEMCACHED_LOCATION=queue-1:11211\n');
    expect(env.spec.content).toContain('REDIS_URL=redis://queue-1:6379/0\n');
  });

  it('sets up the rabbitmq vhost and user with the password on stdin only', () => {
    const user = spec(host('queue-1'), 'rabbitmq-user');
    expect(user.env).toEqual({ RABBITMQ_PASSWORD: 'secret-rabbitmq_password' });
    expect(user.run + user.unless).not.toContain('secret-rabbitmq_password');
    expect(user.unless).toBe(`printf '%s' "$RABBITMQ_PASSWORD" | rabbitmqctl -q authenticate_user 'myproj'`);
  });

  it('makes db-2 a streaming replica of db-1 once db-1 accepts it (its replication role, hba line, settings and firewall)', () => {
    const db2 = host('db-2');
    expect(spec(db2, 'standby')).toMatchObject({ primary_host: 'db-1', user: 'replicator' });
    expect(db2.get('standby')!.remote.map((r) => `${r.kind} ${r.role}:${r.id}`)).toEqual(['require db:replication-role', 'require db:db-hba-replication', 'require db:postgresql-settings', 'require db:firewall']);
    expect(ids(host('db-1'))).toEqual(expect.arrayContaining(['db-role', 'db-database', 'replication-role', 'db-hba-replication']));
  });

  it('disables redis CONFIG (hardening) and restarts redis when that changes', () => {
    const q = host('queue-1');
    expect(spec(q, 'redis-no-config-command')).toMatchObject({ path: '/etc/redis/redis.conf', line: 'rename-command CONFIG ""' });
    expect(q.get('redis-service')!.requisites.watch).toContain('redis-no-config-command');
  });

  it('forwards syslog to the collector on queue-1', () => {
    expect(spec(host('web-1'), 'rsyslog-forward').content).toContain('target="queue-1" port="514" protocol="tcp"');
    expect(ids(host('queue-1'))).toContain('syslog-collector');
  });
});

describe('states/ with inventories/demo-allinone.yaml', () => {
  const rs = compile('demo-allinone.yaml')('allinone-1');

  it('holds every service on one host, on loopback, with no runtime user, replica or balancer', () => {
    expect(ids(rs)).toEqual(expect.arrayContaining(['nginx-site', 'gunicorn', 'celery-worker', 'celery-beat', 'migrate', 'rabbitmq-user', 'redis-service', 'db-database']));
    for (const id of ['haproxy-cfg', 'runtime-user', 'replication-role', 'standby', 'memcached']) expect(ids(rs)).not.toContain(id);
    expect(spec(rs, 'gunicorn').user).toBe('myproj');
    expect(spec(rs, 'rsyslog-forward').ensure).toBe('absent');
    expect(spec(rs, 'app-env').content).not.toContain('DATABASE_REPLICA_URL');
    expect(spec(rs, 'firewall').rules.map((r: any) => r.port)).toEqual([80, 443, 22]);
  });
});

describe('states/ with inventories/example-production.yaml', () => {
  // New Relic's repository key is not shipped (see states/monitoring/newrelic.yaml), so the
  // example keeps it off; here it is on, with a stand-in key.
  const key = readFileSync(join(ROOT, 'states/keys/nodesource.asc'), 'utf8');
  const host = compile('example-production.yaml', { 'keys/newrelic-infra.asc': key }, { newrelic: { enabled: true, python_agent: true, suite: 'bookworm' } });

  it('disables root login, forwards syslog over TLS and relays mail', () => {
    const rs = host('db-1');
    expect(spec(rs, 'sshd-hardening').settings.PermitRootLogin).toBe('no');
    expect(spec(rs, 'rsyslog-gnutls').ensure).toBe('present');
    const fwd = spec(rs, 'rsyslog-forward').content as string;
    expect(fwd).toContain('DefaultNetstreamDriverCAFile="/etc/ssl/certs/ca-certificates.crt"');
    expect(fwd).toContain('StreamDriverPermittedPeers="logs5.papertrailapp.com"');
    expect(spec(rs, 'postfix-relayhost').value).toBe('[smtp.example.com]:587');
  });

  it('installs Node.js from NodeSource on the hosts with the node role', () => {
    expect(spec(host('web-1'), 'nodesource')).toMatchObject({ uris: ['https://deb.nodesource.com/node_20.x'], suites: ['nodistro'] });
    expect(ids(host('worker-1'))).not.toContain('nodesource');
  });

  it('installs and configures the New Relic agents, the licence key kept secret', () => {
    const rs = host('web-1');
    const conf = rs.get('newrelic-config')!;
    expect(conf.sensitive).toBe(true);
    expect(conf.spec).toMatchObject({ path: '/etc/newrelic-infra.yml', mode: '0600', sensitive: true });
    expect(ids(rs)).toEqual(expect.arrayContaining(['newrelic-repo', 'newrelic-infra', 'newrelic-infra-service', 'newrelic-python-config']));
    expect(spec(rs, 'gunicorn').command).toMatch(/^\/srv\/myproj\/venv\/bin\/newrelic-admin run-program \/srv\/myproj\/venv\/bin\/python -m gunicorn /);
    expect(ids(host('db-1'))).not.toContain('newrelic-python-config');
  });

  it('uses real certificates and sends only the balancer to the web hosts', () => {
    expect(ids(host('web-1'))).not.toContain('self-signed-certificate');
    expect(spec(host('web-1'), 'nginx-site').content).toContain('ssl_certificate /etc/ssl/example.com/fullchain.pem;');
    expect(spec(host('web-1'), 'firewall').rules[0]).toMatchObject({ port: 80, from: '10.20.0.10' });
  });
});
