// The resource registry: adding a type is its file, its schema, its tests and one line here.

import type { ResourceType } from '../core/resource.js';
import { aptRepo } from './apt-repo.js';
import { cmd } from './cmd.js';
import { cron } from './cron.js';
import { directory } from './directory.js';
import { file } from './file.js';
import { fileTree } from './file-tree.js';
import { gitCheckout } from './git-checkout.js';
import { group } from './group.js';
import { line } from './line.js';
import { locale } from './locale.js';
import { pkg } from './package.js';
import { pgConf } from './pg-conf.js';
import { pgDatabase } from './pg-database.js';
import { pgHba } from './pg-hba.js';
import { pgReplica } from './pg-replica.js';
import { pgRole } from './pg-role.js';
import { pipRequirements } from './pip-requirements.js';
import { service } from './service.js';
import { sshd } from './sshd.js';
import { supervisorProgram } from './supervisor-program.js';
import { symlink } from './symlink.js';
import { sysctl } from './sysctl.js';
import { timezone } from './timezone.js';
import { ufw } from './ufw.js';
import { unattendedUpgrades } from './unattended-upgrades.js';
import { user } from './user.js';
import { virtualenv } from './virtualenv.js';

export const resourceTypes: Record<string, ResourceType> = {
  apt_repo: aptRepo,
  cmd,
  cron,
  directory,
  file,
  file_tree: fileTree,
  git_checkout: gitCheckout,
  group,
  line,
  locale,
  package: pkg,
  pg_conf: pgConf,
  pg_database: pgDatabase,
  pg_hba: pgHba,
  pg_replica: pgReplica,
  pg_role: pgRole,
  pip_requirements: pipRequirements,
  service,
  sshd,
  supervisor_program: supervisorProgram,
  symlink,
  sysctl,
  timezone,
  ufw,
  unattended_upgrades: unattendedUpgrades,
  user,
  virtualenv,
};
