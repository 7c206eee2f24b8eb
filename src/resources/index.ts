// The resource registry: adding a type is its file, its schema, its tests and one line here.

import type { ResourceType } from '../core/resource.js';
import { cmd } from './cmd.js';
import { cron } from './cron.js';
import { directory } from './directory.js';
import { file } from './file.js';
import { group } from './group.js';
import { line } from './line.js';
import { locale } from './locale.js';
import { service } from './service.js';
import { symlink } from './symlink.js';
import { sysctl } from './sysctl.js';
import { timezone } from './timezone.js';
import { user } from './user.js';

export const resourceTypes: Record<string, ResourceType> = {
  cmd,
  cron,
  directory,
  file,
  group,
  line,
  locale,
  service,
  symlink,
  sysctl,
  timezone,
  user,
};
