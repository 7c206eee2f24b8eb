// The resource registry: adding a type is its file, its schema, its tests and one line here.

import type { ResourceType } from '../core/resource.js';
import { directory } from './directory.js';
import { file } from './file.js';
import { pkg } from './package.js';

export const resourceTypes: Record<string, ResourceType> = {
  directory,
  file,
  package: pkg,
};
