// The resource registry: adding a type is its file, its schema, its tests and one line here.

import type { ResourceType } from '../core/resource.js';
import { aptRepo } from './apt-repo.js';
import { directory } from './directory.js';
import { file } from './file.js';
import { supervisorProgram } from './supervisor-program.js';
import { unattendedUpgrades } from './unattended-upgrades.js';

export const resourceTypes: Record<string, ResourceType> = {
  apt_repo: aptRepo,
  directory,
  file,
  supervisor_program: supervisorProgram,
  unattended_upgrades: unattendedUpgrades,
};
