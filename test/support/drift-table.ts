// The drift table: for every resource type in the registry
// (src/resources/index.ts), a resource, a drift made by hand (a shell command
// run in the container by docker exec, never through converge), the exact
// changes `--check` must then report for it, and a witness (a command whose
// output shows the drifted state, which --check must leave as it was).
// test/support/drift-harness.ts runs the rows: converge, converge again with
// 0 changes, drift, check, repair, check again with 0 changes. Rows run on
// two fleets:
//
//   bookworm  test/integration/drift-table.test.ts: one host for every
//             non-PostgreSQL type, all rows in one state, one converge
//   postgres  test/integration/postgres.test.ts: its primary and replica
//             (the rows' resources are that test's states)
//
// test/unit/drift-table.test.ts fails when a registered type has no row. To
// add a type: add a row here (its `needs` are other resources it requires:
// packages, users), run the fleet's test, and fill `changes` with what
// --check must report, after checking that it is right.
//
// Rows of one fleet drift at once and are checked by one --check run, so a
// drift must touch only its own row's resource (stopping supervisor would
// also drift every supervisor program).

/** A resource in a state file: `{ kind: spec }` plus requisites. */
export type StateResource = Record<string, unknown>;

export interface DriftRow {
  /** The resource type (a key of the registry). */
  type: string;
  fleet: 'bookworm' | 'postgres';
  /** The fleet host the resource is on. */
  host: string;
  /** Its state id. */
  id: string;
  resource: StateResource;
  /** Resources it needs on the host (by state id): the same id in two rows must be the same resource. */
  needs?: Record<string, StateResource>;
  /** sh, run in the container as root: the drift by hand. */
  drift: string;
  /** [path, action] of each change --check must report for this resource, in order. */
  changes: [string, string][];
  /** sh whose output is the drifted state: identical before and after --check. */
  witness: string;
}

export const BOOKWORM_HOST = 'table-1';
export const PG_PRIMARY = 'pg-primary';
export const PG_REPLICA = 'pg-replica';

const SRV = '/srv/table';
const VENV = `${SRV}/venv`;
const CHECKOUT = `${SRV}/app`;
const SOURCES = '/etc/apt/sources.list.d/converge-test.sources';
const PG_DATA = '/var/lib/postgresql/15/main';
const PG_HBA = '/etc/postgresql/15/main/pg_hba.conf';

const pkg = (name: string): StateResource => ({ package: { name } });
const base = { srv: { directory: { path: SRV, mode: '0755' } } };
/** sh: run SQL as postgres (the SQL in double quotes, so no double quotes in it). */
export const psql = (sql: string) => `cd / && su postgres -s /bin/sh -c 'psql -XAtq -v ON_ERROR_STOP=1' <<'SQL'\n${sql}\nSQL`;

const b = (row: Omit<DriftRow, 'fleet' | 'host'>): DriftRow => ({ fleet: 'bookworm', host: BOOKWORM_HOST, ...row, needs: { ...base, ...row.needs } });

export const driftTable: DriftRow[] = [
  b({
    type: 'apt_repo',
    id: 'test-repo',
    // A local repository signed by a key made on the controller: the harness's test puts /srv/repo and keys/converge-test.asc in place.
    resource: { apt_repo: { name: 'converge-test', uris: ['file:/srv/repo'], suites: ['stable'], components: ['main'], key_source: 'keys/converge-test.asc' } },
    // The key, not the sources: a changed sources file would also make every package's lists stale (apt-index).
    drift: 'rm /etc/apt/keyrings/converge-test.asc',
    changes: [
      ['key', 'create'],
      ['index', 'run'],
    ],
    witness: `ls /etc/apt/keyrings; sha256sum ${SOURCES}; ls /var/lib/apt/lists`,
  }),
  b({
    type: 'cmd',
    id: 'marker',
    resource: { cmd: { run: `touch ${SRV}/cmd-ran`, creates: `${SRV}/cmd-ran` }, require: ['srv'] },
    drift: `rm ${SRV}/cmd-ran`,
    changes: [['command', 'run']],
    witness: `ls ${SRV}`,
  }),
  b({
    type: 'cron',
    id: 'backup-cron',
    resource: { cron: { name: 'converge-backup', minute: 30, hour: 2, command: '/usr/local/bin/backup --quiet' } },
    drift: `sed -i 's/^30 2 /30 5 /' /etc/cron.d/converge-backup`,
    changes: [['content', 'update']],
    witness: 'sha256sum /etc/cron.d/converge-backup',
  }),
  b({
    type: 'directory',
    id: 'data-dir',
    // Group root: the group row changes developers' gid, which would drift this directory's group too.
    resource: { directory: { path: `${SRV}/data`, owner: 'alice', group: 'root', mode: '0750' } },
    needs: { alice: { user: { name: 'alice', shell: '/bin/bash', groups: ['developers'] } }, developers: { group: { name: 'developers', gid: 2345 } } },
    drift: `chmod 0777 ${SRV}/data && chown root ${SRV}/data`,
    changes: [
      ['owner', 'update'],
      ['mode', 'update'],
    ],
    witness: `stat -c '%U %G %a' ${SRV}/data`,
  }),
  b({
    type: 'file_tree',
    id: 'site-tree',
    // The source is the tree the test writes to states/site (index.html, css/app.css).
    resource: { file_tree: { path: `${SRV}/site`, source: 'site', clean: true } },
    drift: `echo edited >> ${SRV}/site/index.html && chmod 0700 ${SRV}/site/css && echo stray > ${SRV}/site/stray.txt`,
    changes: [
      ['mode:css', 'update'],
      ['content:index.html', 'update'],
      ['entry:stray.txt', 'delete'],
    ],
    witness: `cd ${SRV}/site && find . -printf '%p %m %s\\n' | sort && cat index.html`,
  }),
  b({
    type: 'file',
    id: 'motd',
    resource: { file: { path: '/etc/motd', content: 'managed by converge\n', mode: '0644' } },
    drift: 'echo hacked >> /etc/motd',
    changes: [['content', 'update']],
    witness: 'sha256sum /etc/motd',
  }),
  b({
    type: 'git_checkout',
    id: 'code',
    // /srv/repo.git: a bare repository with two commits on main, put there by the harness's test.
    resource: { git_checkout: { path: CHECKOUT, remote: '/srv/repo.git', rev: 'main' }, require: ['git', 'srv'] },
    needs: { git: pkg('git') },
    drift: `git -C ${CHECKOUT} reset -q --hard HEAD~1`,
    changes: [['commit', 'update']],
    // GIT_OPTIONAL_LOCKS=0, as converge reads it: a plain git status refreshes (rewrites) the index.
    witness: `git -C ${CHECKOUT} rev-parse HEAD; GIT_OPTIONAL_LOCKS=0 git -C ${CHECKOUT} status --porcelain`,
  }),
  b({
    type: 'group',
    id: 'developers',
    resource: { group: { name: 'developers', gid: 2345 } },
    drift: 'groupmod -g 2346 developers',
    changes: [['gid', 'update']],
    witness: 'getent group developers',
  }),
  b({
    type: 'line',
    id: 'app-default',
    resource: { line: { path: '/etc/default/converge-app', key: 'WORKERS', value: 3, separator: '=', create: true } },
    drift: "sed -i 's/^WORKERS=3$/WORKERS=5/' /etc/default/converge-app",
    changes: [['line', 'update']],
    witness: 'cat /etc/default/converge-app',
  }),
  b({
    type: 'locale',
    id: 'en-us',
    resource: { locale: { name: 'en_US.UTF-8' } },
    needs: { locales: pkg('locales') },
    drift: 'localedef --delete-from-archive en_US.utf8',
    changes: [['generated', 'create']],
    witness: 'locale -a; sha256sum /usr/lib/locale/locale-archive',
  }),
  b({
    type: 'package',
    id: 'hello',
    resource: pkg('hello'),
    drift: 'DEBIAN_FRONTEND=noninteractive apt-get remove -y -q hello >/dev/null',
    changes: [['installed', 'create']],
    witness: "dpkg-query -W -f '${Status}\\n' hello",
  }),
  b({
    type: 'pip_requirements',
    id: 'requirements',
    // /srv/wheelhouse holds convergedemo 1.0 (test/support/wheel.ts), put there by the harness's test.
    resource: { pip_requirements: { venv: VENV, packages: ['convergedemo==1.0'], find_links: '/srv/wheelhouse' }, require: ['venv'] },
    drift: `PIP_DISABLE_PIP_VERSION_CHECK=1 ${VENV}/bin/python -m pip uninstall -q -y convergedemo`,
    changes: [['convergedemo', 'create']],
    witness: `PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1 ${VENV}/bin/python -m pip freeze --all`,
  }),
  b({
    type: 'service',
    id: 'sleeper',
    resource: { service: { name: 'converge-sleeper', running: true, enabled: true }, require: ['sleeper-unit'] },
    needs: {
      'sleeper-unit': { file: { path: '/etc/systemd/system/converge-sleeper.service', content: '[Unit]\nDescription=sleeps\n[Service]\nExecStart=/bin/sleep infinity\n[Install]\nWantedBy=multi-user.target\n' } },
    },
    drift: 'systemctl stop converge-sleeper',
    changes: [['running', 'update']],
    witness: 'systemctl is-active converge-sleeper || true',
  }),
  b({
    type: 'sshd',
    id: 'sshd-tries',
    resource: { sshd: { settings: { MaxAuthTries: 4 } } },
    drift: "sed -i 's/^MaxAuthTries 4$/MaxAuthTries 6/' /etc/ssh/sshd_config.d/50-converge.conf",
    changes: [
      ['dropin', 'update'],
      ['settings.MaxAuthTries', 'update'],
    ],
    witness: 'sha256sum /etc/ssh/sshd_config.d/50-converge.conf; sshd -T | grep -i ^maxauthtries',
  }),
  b({
    type: 'supervisor_program',
    id: 'ticker',
    resource: { supervisor_program: { name: 'ticker', command: '/bin/sleep 100000', user: 'alice' } },
    needs: { supervisor: pkg('supervisor') },
    drift: 'supervisorctl stop ticker >/dev/null',
    changes: [['running', 'update']],
    witness: "supervisorctl status ticker | awk '{print $1, $2}'",
  }),
  b({
    type: 'symlink',
    id: 'current',
    resource: { symlink: { path: `${SRV}/current`, target: `${SRV}/data` } },
    drift: `ln -sfn /tmp ${SRV}/current`,
    changes: [['target', 'update']],
    witness: `readlink ${SRV}/current`,
  }),
  b({
    type: 'sysctl',
    id: 'somaxconn',
    // A network sysctl: per network namespace, and writable in the test image.
    resource: { sysctl: { name: 'net.core.somaxconn', value: 1024 } },
    drift: 'sysctl -qw net.core.somaxconn=4096',
    changes: [['value', 'update']],
    witness: 'sysctl -n net.core.somaxconn',
  }),
  b({
    type: 'timezone',
    id: 'tz',
    resource: { timezone: { name: 'Europe/Paris' } },
    drift: 'ln -sfn /usr/share/zoneinfo/Etc/UTC /etc/localtime && echo Etc/UTC > /etc/timezone',
    changes: [
      ['/etc/localtime target', 'update'],
      ['/etc/timezone content', 'update'],
    ],
    witness: 'readlink /etc/localtime; cat /etc/timezone',
  }),
  b({
    type: 'ufw',
    id: 'firewall',
    resource: { ufw: { enabled: true, rules: [{ port: 22, proto: 'tcp', comment: 'ssh' }, { port: 8080, proto: 'tcp' }] } },
    needs: { ufw: pkg('ufw') },
    drift: 'ufw delete allow 8080/tcp >/dev/null',
    changes: [['rules[allow 8080/tcp]', 'create']],
    witness: "sha256sum /etc/ufw/user.rules; iptables-save | grep -v '^#'",
  }),
  b({
    type: 'unattended_upgrades',
    id: 'security-upgrades',
    resource: { unattended_upgrades: { blacklist: ['converge-hello'], autoclean_interval: 14 } },
    needs: { 'unattended-upgrades': pkg('unattended-upgrades') },
    drift: "sed -i 's/AutocleanInterval \"14\"/AutocleanInterval \"7\"/' /etc/apt/apt.conf.d/20auto-upgrades",
    changes: [['periodic', 'update']],
    witness: 'sha256sum /etc/apt/apt.conf.d/*',
  }),
  b({
    type: 'user',
    id: 'alice',
    resource: { user: { name: 'alice', shell: '/bin/bash', groups: ['developers'] } },
    needs: { developers: { group: { name: 'developers', gid: 2345 } } },
    drift: 'usermod -s /bin/sh alice',
    changes: [['shell', 'update']],
    witness: 'getent passwd alice; id alice',
  }),
  b({
    type: 'virtualenv',
    id: 'venv',
    resource: { virtualenv: { path: VENV, system_site_packages: true }, require: ['srv'] },
    needs: { 'python3-venv': pkg('python3-venv') },
    drift: `sed -i 's/^include-system-site-packages = true$/include-system-site-packages = false/' ${VENV}/pyvenv.cfg`,
    changes: [['system_site_packages', 'update']],
    witness: `cat ${VENV}/pyvenv.cfg`,
  }),

  // PostgreSQL: the primary and replica of test/integration/postgres.test.ts.
  {
    type: 'pg_conf',
    fleet: 'postgres',
    host: PG_PRIMARY,
    id: 'settings',
    resource: { pg_conf: { settings: { listen_addresses: '*', wal_level: 'replica', max_wal_senders: 5, hot_standby: true, work_mem: '8MB' } } },
    drift: psql("ALTER SYSTEM SET work_mem = '16MB';\nSELECT pg_reload_conf();"),
    changes: [
      ['work_mem', 'update'],
      ['reload', 'run'],
    ],
    witness: `${psql('SHOW work_mem;')}; cat ${PG_DATA}/postgresql.auto.conf`,
  },
  {
    type: 'pg_role',
    fleet: 'postgres',
    host: PG_PRIMARY,
    id: 'app-role',
    resource: { pg_role: { name: 'app', login: true, connection_limit: 20, password: '{{ app_password }}' } },
    drift: psql('ALTER ROLE app CONNECTION LIMIT 5;'),
    changes: [['connection_limit', 'update']],
    witness: psql("SELECT rolconnlimit, rolpassword FROM pg_authid WHERE rolname = 'app';"),
  },
  {
    type: 'pg_database',
    fleet: 'postgres',
    host: PG_PRIMARY,
    id: 'app-db',
    resource: { pg_database: { name: 'appdb', owner: 'app', encoding: 'UTF8', locale: 'C.UTF-8' } },
    drift: psql('ALTER DATABASE appdb OWNER TO replicator;'),
    changes: [['owner', 'update']],
    witness: psql("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'appdb';"),
  },
  {
    type: 'pg_hba',
    fleet: 'postgres',
    host: PG_PRIMARY,
    id: 'hba-app',
    resource: { pg_hba: { type: 'host', database: 'appdb', user: 'app', address: 'samenet', method: 'scram-sha-256' } },
    drift: `sed -i '/^host  *appdb  *app  /d' ${PG_HBA}`,
    changes: [['line', 'create']],
    witness: `sha256sum ${PG_HBA}; ${psql('SELECT count(*) FROM pg_hba_file_rules;')}`,
  },
  {
    type: 'pg_replica',
    fleet: 'postgres',
    host: PG_REPLICA,
    id: 'standby',
    // The replica lost its data directory (a disk replaced): the cluster is stopped and its directory gone.
    resource: { pg_replica: { primary_host: PG_PRIMARY, user: 'replicator', password: '{{ repl_password }}', data_directory: PG_DATA } },
    drift: `pg_ctlcluster 15 main stop && rm -rf ${PG_DATA}`,
    changes: [['standby', 'create']],
    witness: `ls -la ${PG_DATA} 2>&1; pg_lsclusters`,
  },
];

/** The rows of one fleet. */
export const rowsOf = (fleet: DriftRow['fleet']) => driftTable.filter((r) => r.fleet === fleet);
