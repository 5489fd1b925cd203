// Is a process still running? kill(pid, 0) alone says yes to a zombie: a detached
// daemon's parent is init, and where init does not reap (a container), a daemon that
// exited stays a zombie, holding nothing.
import { readFileSync } from 'fs';

export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    // "pid (comm) state ...": comm may hold spaces and parentheses, the state follows the last ')'
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true; // no /proc to ask: kill said it is there
  }
}
