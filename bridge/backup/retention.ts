import type { KeepPolicy } from './types.ts';

const RULES = ['hourly', 'daily', 'weekly', 'monthly'] as const;

/**
 * Which snapshots a keep policy keeps (restic/PBS semantics): the newest `last`, then for each of
 * hourly/daily/weekly/monthly the newest snapshot of each of the newest N periods, periods taken in
 * `timeZone`. A policy with no positive count keeps everything: an empty policy never wipes a drive.
 */
export function selectKept(snapshots: ReadonlyArray<{ id: string; time: string }>, keep: KeepPolicy, timeZone = 'UTC'): Set<string> {
  const newestFirst = [...snapshots].sort((a, b) => b.time.localeCompare(a.time));
  const kept = new Set<string>();
  const counts = { last: keep.last ?? 0, hourly: keep.hourly ?? 0, daily: keep.daily ?? 0, weekly: keep.weekly ?? 0, monthly: keep.monthly ?? 0 };
  if (Object.values(counts).every((n) => n <= 0)) return new Set(newestFirst.map((s) => s.id));
  newestFirst.slice(0, counts.last).forEach((s) => kept.add(s.id));
  const parts = partsIn(timeZone);
  for (const rule of RULES) {
    let left = counts[rule];
    let lastPeriod: string | null = null;
    for (const s of newestFirst) {
      if (left <= 0) break;
      const period = periodKey(rule, parts(new Date(s.time)));
      if (period === lastPeriod) continue;
      lastPeriod = period;
      kept.add(s.id);
      left--;
    }
  }
  return kept;
}

interface Parts {
  year: number;
  month: number;
  day: number;
  hour: number;
}

function partsIn(timeZone: string): (d: Date) => Parts {
  const fmt = new Intl.DateTimeFormat('en-US', { timeZone, year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', hourCycle: 'h23' });
  return (d) => {
    const p = Object.fromEntries(fmt.formatToParts(d).map((x) => [x.type, x.value]));
    return { year: Number(p.year), month: Number(p.month), day: Number(p.day), hour: Number(p.hour) };
  };
}

function periodKey(rule: (typeof RULES)[number], p: Parts): string {
  if (rule === 'hourly') return `${p.year}-${p.month}-${p.day}T${p.hour}`;
  if (rule === 'daily') return `${p.year}-${p.month}-${p.day}`;
  if (rule === 'monthly') return `${p.year}-${p.month}`;
  return isoWeek(p.year, p.month, p.day);
}

/** ISO 8601 week ("2025-W01"); weeks start on Monday, week 1 holds the year's first Thursday. */
export function isoWeek(year: number, month: number, day: number): string {
  const d = new Date(Date.UTC(year, month - 1, day));
  const weekday = d.getUTCDay() || 7;
  d.setUTCDate(d.getUTCDate() + 4 - weekday);
  const weekYear = d.getUTCFullYear();
  const week = Math.ceil(((d.getTime() - Date.UTC(weekYear, 0, 1)) / 86_400_000 + 1) / 7);
  return `${weekYear}-W${String(week).padStart(2, '0')}`;
}
