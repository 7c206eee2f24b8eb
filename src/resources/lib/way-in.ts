// What the resources that can lock converge out (ufw, sshd) share: after
// their change is live, a brand-new SSH connection must still get in. If it
// cannot, the change is undone while the session converge is using (which
// the change did not cut: an established connection survives a firewall
// reload and an sshd reload) is still open, and the resource fails.

import { errorMessage, HostError } from '../../core/diagnostics.js';
import type { ApplyContext } from '../../core/resource.js';

export interface WayIn {
  /** What was changed, for the message: "the firewall change". */
  change: string;
  /** What undo restores, for the message: "the previous firewall rules". */
  previous: string;
  /** Put the previous state back and make it live. */
  undo(): Promise<void>;
  /** Fresh connections to try before giving up (an sshd reload briefly closes its listener). */
  attempts?: number;
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function reconnects(ctx: ApplyContext, attempts: number): Promise<boolean> {
  for (let i = 0; i < attempts; i++) {
    if (i > 0) await pause(1000);
    if (await ctx.canReconnect()) return true;
  }
  return false;
}

/** Prove a fresh login still works after a change; otherwise undo it and throw a HostError saying so. */
export async function keepWayIn(ctx: ApplyContext, w: WayIn): Promise<void> {
  const attempts = w.attempts ?? 1;
  if (await reconnects(ctx, attempts)) return;
  const lost = `after ${w.change}, a fresh SSH connection to ${ctx.host.name} failed`;
  try {
    await w.undo();
  } catch (e) {
    throw new HostError(
      `${lost}, and restoring ${w.previous} failed too: ${errorMessage(e)}`,
      'log in on the console (or through a session that is still open) and repair the host by hand',
    );
  }
  const back = await reconnects(ctx, attempts);
  throw new HostError(
    `${lost}: converge restored ${w.previous} and ${back ? 'can log in again' : 'STILL cannot log in'}`,
    back
      ? 'the declared state would have locked converge out: change it so that the address converge connects from can still reach sshd'
      : 'log in on the console and check the firewall and sshd by hand',
  );
}
