// The resource registry: adding a type is its file, its schema, its tests and one line here.

import type { ResourceType } from '../core/resource.js';
import { cmd } from './cmd.js';
import { directory } from './directory.js';
import { file } from './file.js';
import { group } from './group.js';
import { pkg } from './package.js';
import { service } from './service.js';
import { user } from './user.js';

export const resourceTypes: Record<string, ResourceType> = {
  cmd,
  directory,
  file,
  group,
  package: pkg,
  service,
  user,
};
