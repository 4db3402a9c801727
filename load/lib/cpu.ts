/**
 * CPU time of the processes in a run (Linux /proc), to tell who the bottleneck was: on a 2-core
 * machine the load generator, the runtime, DynamoDB Local and Redis share two cores, and a
 * generator near one full core measures itself, not the service. Elsewhere it reports nothing.
 */
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';

/** utime + stime of a process in seconds, or null when it is gone or /proc is absent. */
function cpuSeconds(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses and may itself contain spaces.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // USER_HZ is 100 on Linux
  } catch {
    return null;
  }
}

/** Busy and total seconds of all cores together. */
function machineSeconds(): { busy: number; total: number } | null {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
    const values = line.trim().split(/\s+/).slice(1).map(Number);
    const total = values.reduce((a, b) => a + b, 0) / 100;
    const idle = ((values[3] ?? 0) + (values[4] ?? 0)) / 100;
    return { busy: total - idle, total };
  } catch {
    return null;
  }
}

export interface CpuUsage {
  /** Cores used on average over the window, per process (1.0 = one core busy all the time). */
  readonly cores: Record<string, number>;
  /** Share of the whole machine that was busy, 0..1. */
  readonly machineBusy: number | null;
}

interface Sample {
  readonly at: number;
  readonly cpu: Record<string, number>;
  readonly machine: { busy: number; total: number } | null;
}

/**
 * Samples the named processes every `everyMs` until stopped, so the usage of any window (the load
 * phase as artillery reports it, without its start-up) can be read afterwards.
 */
export function cpuSampler(everyMs = 250) {
  const pids = new Map<string, number>();
  const samples: Sample[] = [];
  const sample = () => {
    const cpu: Record<string, number> = {};
    for (const [name, pid] of pids) {
      const seconds = cpuSeconds(pid);
      if (seconds !== null) cpu[name] = seconds;
    }
    samples.push({ at: Date.now(), cpu, machine: machineSeconds() });
  };
  const timer = setInterval(sample, everyMs);
  timer.unref();
  return {
    watch(name: string, pid: number | undefined) {
      if (pid !== undefined) pids.set(name, pid);
      sample();
    },
    stop() {
      clearInterval(timer);
      sample();
    },
    /** Average usage between two wall-clock times (ms), from the samples just outside them. */
    usage(from: number, to: number): CpuUsage {
      const first = samples.findLast((s) => s.at <= from) ?? samples[0];
      const last = samples.find((s) => s.at >= to) ?? samples.at(-1);
      if (!first || !last || last.at <= first.at) return { cores: {}, machineBusy: null };
      const seconds = (last.at - first.at) / 1000;
      const cores: Record<string, number> = {};
      for (const [name, start] of Object.entries(first.cpu)) {
        // A process that exited inside the window (artillery) counts until its last sample.
        const end = last.cpu[name] ?? samples.findLast((s) => s.at <= last.at && name in s.cpu)?.cpu[name];
        if (end !== undefined) cores[name] = Number(((end - start) / seconds).toFixed(2));
      }
      const machineBusy =
        first.machine && last.machine && last.machine.total > first.machine.total
          ? (last.machine.busy - first.machine.busy) / (last.machine.total - first.machine.total)
          : null;
      if (machineBusy !== null) {
        // Whatever the machine did besides the watched processes: the kernel's network work, and
        // anything else running (another test suite) that would make this run's numbers unfair.
        const watched = Object.values(cores).reduce((a, b) => a + b, 0);
        cores.other = Number(Math.max(0, machineBusy * cpus().length - watched).toFixed(2));
      }
      return { cores, machineBusy: machineBusy === null ? null : Number(machineBusy.toFixed(2)) };
    },
  };
}

export type CpuSampler = ReturnType<typeof cpuSampler>;
