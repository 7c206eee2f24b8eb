// The resource registry: adding a type is its file, its schema, its tests and one line here.

import type { ResourceType } from '../core/resource.js';
import { aptRepo } from './apt-repo.js';
import { cmd } from './cmd.js';
import { cron } from './cron.js';
import { directory } from './directory.js';
import { file } from './file.js';
import { group } from './group.js';
import { line } from './line.js';
import { locale } from './locale.js';
import { pkg } from './package.js';
import { service } from './service.js';
import { sshd } from './sshd.js';
import { supervisorProgram } from './supervisor-program.js';
import { symlink } from './symlink.js';
import { sysctl } from './sysctl.js';
import { timezone } from './timezone.js';
import { ufw } from './ufw.js';
import { unattendedUpgrades } from './unattended-upgrades.js';
import { user } from './user.js';

export const resourceTypes: Record<string, ResourceType> = {
  apt_repo: aptRepo,
  cmd,
  cron,
  directory,
  file,
  group,
  line,
  locale,
  package: pkg,
  service,
  sshd,
  supervisor_program: supervisorProgram,
  symlink,
  sysctl,
  timezone,
  ufw,
  unattended_upgrades: unattendedUpgrades,
  user,
};
