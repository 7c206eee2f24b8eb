// Shared by the demo and the benchmark: a container's sshd is ready when its
// published loopback port answers with an SSH banner (docker-proxy accepts
// TCP before sshd listens).
import { createConnection } from 'node:net';

export function sshBanner(port) {
  return new Promise((done) => {
    const s = createConnection({ host: '127.0.0.1', port });
    s.setTimeout(2000, () => (s.destroy(), done(false)));
    s.on('data', (d) => (s.destroy(), done(d.toString().startsWith('SSH-'))));
    s.on('error', () => done(false));
  });
}
