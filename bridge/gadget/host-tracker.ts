import type { HostState } from '../drives/model.ts';
import type { HostSample } from './backend.ts';

export type HostEventType = 'host_connected' | 'host_disconnected' | 'host_idle';

export interface HostUpdate {
  state: HostState;
  events: HostEventType[];
  /** connected or writing flipped, or an event fired: worth publishing. */
  changed: boolean;
}

/**
 * Turns samples of the UDC state and the gadget's write counter into the contract's host view:
 * connected = UDC `configured`; writing = the counter moved within the last `writingWindowMs`;
 * idle = connected and not writing for `idleAfterS` (announced once per quiet period).
 * Pure: time comes in with each sample, so it is tested without sleeping.
 */
export class HostTracker {
  readonly #idleAfterMs: number;
  readonly #writingWindowMs: number;
  #connectedAt: number | null = null;
  #lastWriteAt: number | null = null;
  #counter: number | null = null;
  #lastSampleAt: number | null = null;
  #idleAnnounced = false;
  #rate = 0;
  #now = 0;

  constructor(opts: { idleAfterS: number; writingWindowMs: number }) {
    this.#idleAfterMs = opts.idleAfterS * 1000;
    this.#writingWindowMs = opts.writingWindowMs;
  }

  #writingAt(now: number): boolean {
    return this.#connectedAt !== null && this.#lastWriteAt !== null && now - this.#lastWriteAt < this.#writingWindowMs;
  }

  /** Start of the current quiet period: the last write, or the connection when nothing was written since. */
  #quietSince(): number | null {
    if (this.#connectedAt === null) return null;
    return Math.max(this.#connectedAt, this.#lastWriteAt ?? -Infinity);
  }

  state(): HostState {
    const quietSince = this.#quietSince();
    const writing = this.#writingAt(this.#now);
    return {
      host_connected: this.#connectedAt !== null,
      host_writing: writing,
      host_idle_s: quietSince === null ? null : writing ? 0 : Math.floor((this.#now - quietSince) / 1000),
      write_rate_bps: this.#rate,
    };
  }

  update(sample: HostSample, nowMs: number): HostUpdate {
    const events: HostEventType[] = [];
    const wasConnected = this.#connectedAt !== null;
    const wasWriting = this.#writingAt(this.#now);
    this.#now = nowMs;

    // A counter that went backwards belongs to a new file-storage thread: it only sets the baseline.
    const c = sample.writeCounter;
    const delta = c !== null && this.#counter !== null && c >= this.#counter ? c - this.#counter : 0;
    const dtS = this.#lastSampleAt === null ? 0 : (nowMs - this.#lastSampleAt) / 1000;
    this.#rate = dtS > 0 ? Math.round(delta / dtS) : 0;
    this.#counter = c;
    this.#lastSampleAt = nowMs;

    const connected = sample.udcState === 'configured';
    if (connected && !wasConnected) {
      this.#connectedAt = nowMs;
      this.#idleAnnounced = false;
      events.push('host_connected');
    } else if (!connected && wasConnected) {
      this.#connectedAt = null;
      this.#lastWriteAt = null;
      events.push('host_disconnected');
    }
    if (connected && delta > 0) {
      this.#lastWriteAt = nowMs;
      this.#idleAnnounced = false;
    }
    const writing = this.#writingAt(nowMs);
    const quietSince = this.#quietSince();
    if (quietSince !== null && !writing && !this.#idleAnnounced && nowMs - quietSince >= this.#idleAfterMs) {
      this.#idleAnnounced = true;
      events.push('host_idle');
    }
    return { state: this.state(), events, changed: events.length > 0 || wasConnected !== connected || wasWriting !== writing };
  }
}
