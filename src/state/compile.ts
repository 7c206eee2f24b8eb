// Per host: render each state entry with the host's vars (for_each, when),
// check it against its resource type's schema, and resolve it into a
// self-contained resource. Every error names file, line and path.

import { InputError, type Diagnostic, type Where } from '../core/diagnostics.js';
import type { CompileContext, ResourceType } from '../core/resource.js';
import type { Rolling } from '../generated/rolling.js';
import type { Redactor } from '../core/sensitive.js';
import type { HostFacts } from '../engine/host-facts.js';
import type { Host, Inventory } from '../inventory/inventory.js';
import { resourceTypes } from '../resources/index.js';
import type { CompiledItem, EntryCache } from './entry-cache.js';
import { withDeclaredEntries } from './exclusive.js';
import { schemaDiagnostics } from './schemas.js';
import type { RawEntry, StateTree } from './states.js';
import { Templates, type Vars } from './template.js';
import { formatPath, type PathSegment, type YamlFile } from './yaml-file.js';

export const REQUISITES = ['require', 'watch', 'onchanges', 'before'] as const;
export type Requisite = (typeof REQUISITES)[number];
/** Declared on the upstream resource, naming its downstream ones: `watch_in: [nginx]` is nginx's `watch: [this]`. */
export const REQUISITES_IN = ['require_in', 'watch_in', 'onchanges_in'] as const;
export type RequisiteIn = (typeof REQUISITES_IN)[number];
const ALL_REQUISITES = [...REQUISITES, ...REQUISITES_IN] as const;
const META = new Set<string>([...ALL_REQUISITES, 'for_each', 'when', 'rolling']);
/** Most entries name no requisite: they share this one, frozen since it is shared. */
const NO_REQUISITES = Object.freeze(Object.fromEntries(ALL_REQUISITES.map((r) => [r, Object.freeze([])]))) as unknown as Record<Requisite | RequisiteIn, string[]>;
const NO_REMOTE: readonly RemoteRequisite[] = Object.freeze([]);

/** The requisites that may name another host's resource (the fleet graph waits on it: fleet/fleet-graph.ts). */
export const REMOTE_REQUISITES = ['require', 'watch', 'onchanges'] as const;

/**
 * A requisite naming a resource of another host, or of every host of a
 * role: `require: [{ host: db-1, id: app-db-role }]`,
 * `watch: [{ role: web, id: app-code }]`.
 */
export interface RemoteRequisite {
  kind: (typeof REMOTE_REQUISITES)[number];
  host?: string;
  role?: string;
  /** A state id or kind:name id on that host. */
  id: string;
  /** Its place in the entry's list (for where it is written). */
  index: number;
}

export interface Resource {
  /** State id as written (after rendering), unique per host. */
  id: string;
  kind: string;
  type: ResourceType;
  spec: any;
  /** Natural identity, e.g. file:/etc/motd */
  naturalId: string;
  requisites: Record<Requisite | RequisiteIn, string[]>;
  /** Requisites naming other hosts' resources. */
  remote: readonly RemoteRequisite[];
  where: Where;
  /** Where a field of this entry is, e.g. at('require', 0). */
  at(...path: (string | number)[]): Where;
  /** Some value of this resource comes from a secret. */
  sensitive: boolean;
  /** Its change is made a few hosts at a time, out of the balancer's pool (fleet/rollout.ts). */
  rolling?: Rolling;
}

const fleetViews = new WeakMap<Inventory, unknown[]>();
/** Every host's name, address, roles and vars: built once per inventory, shared by all hosts' vars. */
function fleetView(inventory: Inventory): unknown[] {
  let view = fleetViews.get(inventory);
  if (!view) {
    view = inventory.hosts.map((h) => ({ name: h.name, address: h.address, roles: h.roles, vars: h.vars }));
    fleetViews.set(inventory, view);
  }
  return view;
}

/**
 * The vars a host's states see: its merged vars, `host` (with its facts), and `fleet` (every
 * host with its address and roles, e.g. for a load balancer's backends).
 * Vars may refer to other vars ("hello from {{ host.name }}"): those are
 * rendered here, a few passes deep, as Ansible users expect.
 */
export function hostVars(host: Host, inventory: Inventory, templates: Templates, facts?: HostFacts, treeVars: Vars = {}): Vars {
  // The state tree's defaults (states/vars.yaml) below every inventory var.
  const own = { ...treeVars, ...host.vars };
  let vars: Vars = {
    ...own,
    // The host's facts (os, architecture, cpus ...: engine/host-facts.ts) beside its name, address and roles.
    host: { ...facts, name: host.name, address: host.address, roles: host.roles },
    fleet: fleetView(inventory),
  };
  for (let pass = 0; pass < 4 && JSON.stringify(own).includes('{{'); pass++) {
    const next = { ...vars, ...(templates.renderValue(own, vars, () => ({ file: inventory.file, host: host.name })) as Vars) };
    if (JSON.stringify(next) === JSON.stringify(vars)) break;
    vars = next;
  }
  return vars;
}

function asList(v: unknown): unknown[] {
  if (v === undefined || v === null) return [];
  return Array.isArray(v) ? v : [v];
}

/** An entry's requisites: names of this host's resources, and { host | role, id } of other hosts'. */
function requisitesOf(list: (r: Requisite | RequisiteIn) => unknown[], where: (...path: (string | number)[]) => Where) {
  const remote: RemoteRequisite[] = [];
  const requisites = {} as Record<Requisite | RequisiteIn, string[]>;
  for (const r of ALL_REQUISITES) {
    requisites[r] = [];
    list(r).forEach((item, index) => {
      if (item === null || typeof item !== 'object') return requisites[r].push(String(item));
      remote.push(remoteRequisite(r, item as Record<string, unknown>, index, () => where(r, index)));
    });
  }
  return { requisites, remote: remote.length ? remote : NO_REMOTE };
}

function remoteRequisite(kind: Requisite | RequisiteIn, item: Record<string, unknown>, index: number, where: () => Where): RemoteRequisite {
  const example = `${kind}: [{ host: db-1, id: app-db-role }] or [{ role: db_primary, id: app-db-role }]`;
  if (!(REMOTE_REQUISITES as readonly string[]).includes(kind)) {
    throw new InputError({ message: `${kind} cannot name another host's resource`, where: where(), hint: 'declare require, watch or onchanges on the resource that must wait, naming this one by host (or role) and id' });
  }
  const extra = Object.keys(item).filter((k) => !['host', 'role', 'id'].includes(k));
  const str = (k: string) => (typeof item[k] === 'string' && item[k] ? (item[k] as string) : undefined);
  if (extra.length || !str('id') || !!str('host') === !!str('role')) {
    throw new InputError({ message: `a requisite on another host needs id and exactly one of host or role${extra.length ? ` (not ${extra.join(', ')})` : ''}`, where: where(), hint: `e.g. ${example}` });
  }
  return { kind: kind as RemoteRequisite['kind'], host: str('host'), role: str('role'), id: str('id')!, index };
}

export interface CompiledHost {
  resources: Resource[];
  /**
   * Ids of entries a `when` left out on this host: a requisite naming one is
   * met (there is nothing to wait for, and it never changes), as a
   * `watch: [newrelic-config]` on a host where New Relic is off.
   */
  dropped: Set<string>;
}

export function compileHost(host: Host, inventory: Inventory, tree: StateTree, templates: Templates, cache: EntryCache, stateNames?: string[], facts?: HostFacts): CompiledHost {
  const vars = hostVars(host, inventory, templates, facts, tree.vars);
  const entries = stateNames ? tree.entries(stateNames, 'apply') : tree.entries(tree.statesFor(host.roles));
  const out: Resource[] = [];
  const dropped = new Set<string>();
  const diagnostics: Diagnostic[] = [];
  for (const entry of entries) {
    try {
      const items = compileEntry(entry, vars, templates, inventory.redactor, host, cache);
      if (items.length === 0 && entry.body.when !== undefined) dropped.add(droppedId(entry.rawId, vars, templates));
      out.push(...items);
    } catch (e) {
      if (e instanceof InputError) diagnostics.push(...e.diagnostics);
      else throw e;
    }
  }
  if (diagnostics.length) throw new InputError(diagnostics);
  checkUnique(out, host);
  return { resources: withDeclaredEntries(out), dropped };
}

/** The id of a dropped entry as a requisite would name it (its template rendered when it can be without an item). */
function droppedId(rawId: string, vars: Vars, templates: Templates): string {
  try {
    return String(templates.renderString(rawId, vars, () => ({})));
  } catch {
    return rawId;
  }
}

function compileEntry(entry: RawEntry, vars: Vars, templates: Templates, redactor: Redactor, host: Host, cache: EntryCache): Resource[] {
  const { rawId, body } = entry;
  const where = (...path: (string | number)[]): Where => entryWhere(entry, host.name, path);
  if (typeof body !== 'object' || Array.isArray(body)) {
    throw new InputError({ message: 'a resource must be a mapping with one resource type key', where: where(), hint: `e.g. ${rawId}: { package: { name: nginx } }` });
  }
  const key = cache.key(entry, vars);
  let items = key === undefined ? undefined : cache.get(entry, key);
  if (!items) {
    const compiled = compileItems(entry, vars, templates, redactor, where, cache);
    items = compiled.items;
    if (key === undefined || compiled.readAllVars) {
      if (key !== undefined) cache.exclude(entry);
      // Compiled for this host alone: nothing to share.
      return items.map((item) => new OwnResource(item, entry, host.name));
    }
    cache.set(entry, key, items);
  }
  return items.map((item) => new HostResource(item, entry, host.name));
}

/** Where a field of an entry is, e.g. entryWhere(e, 'web1', ['require', 0]). */
function entryWhere(entry: RawEntry, hostName: string, path: (string | number)[]): Where {
  const full = ['resources', entry.rawId, ...path];
  return { file: entry.src.file, line: entry.src.lineOf(full), path: formatPath(full), host: hostName };
}

// Classes rather than object literals with getters: V8 builds a literal
// with an accessor through a slow runtime call, and compile makes one
// resource (and one resolve context) per host per entry.

/**
 * A compiled item placed on one host. Every host's resources live for the
 * whole run, so one holds three references (the shared item, its entry and
 * the host's name) and works out where it is only for a message.
 */
class HostResource implements Resource {
  constructor(
    private readonly item: CompiledItem,
    private readonly entry: RawEntry,
    private readonly hostName: string,
  ) {}
  get id(): string {
    return this.item.id;
  }
  get kind(): string {
    return this.item.kind;
  }
  get type(): ResourceType {
    return this.item.type;
  }
  get spec(): any {
    return this.item.spec;
  }
  get naturalId(): string {
    return this.item.naturalId;
  }
  get requisites(): Record<Requisite | RequisiteIn, string[]> {
    return this.item.requisites;
  }
  get remote(): readonly RemoteRequisite[] {
    return this.item.remote;
  }
  get sensitive(): boolean {
    return this.item.sensitive;
  }
  get rolling(): Rolling | undefined {
    return this.item.rolling;
  }
  get where(): Where {
    return this.at();
  }
  at(...path: (string | number)[]): Where {
    return entryWhere(this.entry, this.hostName, path);
  }
}

/**
 * An item compiled for one host alone (its entry reads `host`, or its
 * resolve read every var), its fields held in place: a HostResource and the
 * item it points to were 144 bytes, this is 112, per such entry of every host.
 */
class OwnResource implements Resource {
  readonly id: string;
  readonly kind: string;
  readonly type: ResourceType;
  readonly spec: any;
  readonly naturalId: string;
  readonly requisites: Record<Requisite | RequisiteIn, string[]>;
  readonly remote: readonly RemoteRequisite[];
  readonly sensitive: boolean;
  readonly rolling: Rolling | undefined;
  constructor(
    item: CompiledItem,
    private readonly entry: RawEntry,
    private readonly hostName: string,
  ) {
    this.id = item.id;
    this.kind = item.kind;
    this.type = item.type;
    this.spec = item.spec;
    this.naturalId = item.naturalId;
    this.requisites = item.requisites;
    this.remote = item.remote;
    this.sensitive = item.sensitive;
    this.rolling = item.rolling;
  }
  get where(): Where {
    return this.at();
  }
  at(...path: (string | number)[]): Where {
    return entryWhere(this.entry, this.hostName, path);
  }
}

/** What resolve() sees; notes whether it read the vars (then its result may depend on any of them). */
class ResolveContext implements CompileContext {
  readAllVars = false;
  constructor(
    readonly statesDir: string,
    private readonly allVars: Vars,
    private readonly templates: Templates,
    private readonly at: () => Where,
  ) {}
  get vars(): Vars {
    this.readAllVars = true;
    return this.allVars;
  }
  get where(): Where {
    return this.at();
  }
  renderTemplate(name: string, extra?: Record<string, unknown>): string {
    this.readAllVars = true;
    return this.templates.renderFile(name, { ...this.allVars, ...extra }, this.at);
  }
}

/** What an entry is, whatever the host: worked out once per entry body, not per host. */
interface EntryShape {
  kind: string;
  type: ResourceType;
  /** The schema check's path prefix and key. */
  base: string[];
  schemaKey: string;
  hasRequisites: boolean;
}

const shapes = new WeakMap<object, EntryShape>();

/** The entry's one resource type; an input error (raised for each host, naming it) when it has none or several. */
function entryShape(entry: RawEntry, where: (...path: (string | number)[]) => Where): EntryShape {
  const { rawId, body } = entry;
  let shape = shapes.get(body);
  // One body may stand under two ids (a YAML alias): the path names the id.
  if (shape && shape.base[1] === rawId) return shape;
  const kinds = Object.keys(body).filter((k) => !META.has(k));
  const unknown = kinds.filter((k) => !(k in resourceTypes));
  if (unknown.length) {
    throw new InputError({ message: `unknown resource type or field "${unknown[0]}"`, where: where(unknown[0]), hint: `resource types: ${Object.keys(resourceTypes).join(', ')}; other fields: ${[...META].join(', ')}` });
  }
  if (kinds.length !== 1) {
    throw new InputError(
      kinds.length
        ? { message: `has ${kinds.length} resource types (${kinds.join(', ')}); one entry holds exactly one`, where: where(), hint: 'split it into one entry per resource' }
        : { message: 'has no resource type', where: where(), hint: `give it one, e.g. ${rawId}: { file: { path: /etc/motd } }; the types are ${Object.keys(resourceTypes).join(', ')}` },
    );
  }
  const kind = kinds[0];
  shape = { kind, type: resourceTypes[kind], base: ['resources', rawId, kind], schemaKey: `resources/${kind}.schema.json`, hasRequisites: ALL_REQUISITES.some((r) => body[r] !== undefined) };
  shapes.set(body, shape);
  return shape;
}

const NONE_NAMED = Object.freeze({ requisites: NO_REQUISITES, remote: NO_REMOTE });

/** Render, check and resolve one entry for some vars; readAllVars: its resolve read more than the entry's templates name. */
function compileItems(entry: RawEntry, vars: Vars, templates: Templates, redactor: Redactor, where: (...path: (string | number)[]) => Where, cache: EntryCache): { items: CompiledItem[]; readAllVars: boolean } {
  const { src, rawId, body } = entry;
  const { kind, type, base, schemaKey, hasRequisites } = entryShape(entry, where);

  // when: false (a YAML boolean) is as false as "{{ false }}".
  if (body.when !== undefined && !(typeof body.when === 'string' ? templates.renderString(body.when, vars, () => where('when')) : body.when)) return { items: [], readAllVars: false };
  let list: unknown[] = [undefined];
  if (body.for_each !== undefined) {
    // A list written in place is rendered item by item, as any other value is.
    const rendered = templates.renderValue(body.for_each, vars, () => where('for_each'));
    if (!Array.isArray(rendered)) throw new InputError({ message: 'for_each must give a list', where: where('for_each'), hint: 'e.g. for_each: "{{ developers }}" where developers is a list in vars' });
    list = rendered;
  }
  let readAllVars = false;
  const whereSpec = () => where(kind);
  const items = list.map((item): CompiledItem => {
    const v = body.for_each !== undefined ? { ...vars, item } : vars;
    const id = String(templates.renderString(rawId, v, where));
    const spec = templates.renderValue(body[kind], v, whereSpec);
    const bad = schemaDiagnostics(schemaKey, spec, src, base);
    if (bad.length) throw new InputError(bad.map((d) => ({ ...d, where: { ...d.where, host: where().host } })));
    const { requisites, remote } = hasRequisites ? requisitesOf((r) => asList(templates.renderValue(body[r], v, () => where(r))), where) : NONE_NAMED;
    const rolling = body.rolling === undefined ? undefined : rollingOf(templates.renderValue(body.rolling, v, () => where('rolling')), src, ['resources', rawId, 'rolling'], where);
    let resolved = spec;
    if (type.resolve) {
      const ctx = new ResolveContext(templates.statesDir, v, templates, whereSpec);
      resolved = type.resolve(spec, ctx);
      readAllVars ||= ctx.readAllVars;
    }
    return { id, kind, type, spec: resolved, naturalId: cache.naturalId(type.id ? type.id(resolved) : `${kind}:${id}`), requisites, remote, rolling, sensitive: !redactor.empty && redactor.touches(JSON.stringify(resolved)) };
  });
  return { items, readAllVars };
}

/** An entry's rolling option, checked: the balancer named by host or by role, not both. */
function rollingOf(value: unknown, src: YamlFile, base: PathSegment[], where: (...path: (string | number)[]) => Where): Rolling {
  const bad = schemaDiagnostics('rolling.schema.json', value, src, base);
  if (bad.length) throw new InputError(bad.map((d) => ({ ...d, where: { ...d.where, host: where().host } })));
  const rolling = value as Rolling;
  if (rolling.balancer && !rolling.balancer.host === !rolling.balancer.role) {
    throw new InputError({ message: 'rolling.balancer names its balancer by host or by role: one of the two', where: where('rolling', 'balancer'), hint: 'e.g. balancer: { role: balancer, backends: [web_https] } or balancer: { host: lb-1, backends: [web_https] }' });
  }
  return rolling;
}

function checkUnique(resources: Resource[], host: Host): void {
  const byId = new Map<string, Resource>();
  const byNatural = new Map<string, Resource>();
  for (const r of resources) {
    const dupe = byId.get(r.id);
    if (dupe) throw new InputError({ message: `resource id "${r.id}" is declared twice (also at ${dupe.where.file}:${dupe.where.line})`, where: r.where, hint: 'ids must be unique across all states a host gets; rename one' });
    const same = byNatural.get(r.naturalId);
    if (same) throw new InputError({ message: `${r.naturalId} is managed twice: here as "${r.id}" and as "${same.id}" (${same.where.file}:${same.where.line})`, where: { ...r.where, host: host.name }, hint: 'manage each thing in one place, and require it from the other' });
    byId.set(r.id, r);
    byNatural.set(r.naturalId, r);
  }
}
