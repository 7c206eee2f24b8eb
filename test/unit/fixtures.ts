// The plan context of unit tests. Captured fact fixtures are loaded by
// test/support/fixtures.ts, which refuses stale ones.

export const planCtx = (sensitive = false) => ({ host: { name: 'h', sshPort: 22, loginUser: 'root' }, statesDir: '/states', sensitive });
