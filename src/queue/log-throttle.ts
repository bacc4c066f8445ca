/**
 * Error logging that cannot flood: the first occurrence of a message is written, repeats
 * within `windowMs` are counted and summarized once the window closes.
 */
export function throttledLog(write: (line: string) => void, windowMs = 30_000): (message: string) => void {
  const seen = new Map<string, { at: number; repeats: number }>();
  return (message: string) => {
    const now = Date.now();
    const s = seen.get(message);
    if (s && now - s.at < windowMs) {
      s.repeats++;
      return;
    }
    if (s && s.repeats > 0) write(`${message} (and ${s.repeats} more times in the last ${Math.round((now - s.at) / 1000)} s)`);
    else write(message);
    seen.set(message, { at: now, repeats: 0 });
    if (seen.size > 200) seen.delete(seen.keys().next().value!);
  };
}
