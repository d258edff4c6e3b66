// The server's stderr → the `spot` log output channel, each line at the level the server gave it.
// spot logs with tracing's default format (`2026-12-07T22:01:17.284012Z  INFO target: message`);
// without this the client tags every stderr line [error]. ONNX Runtime's session-setup chatter
// (`ort::logging` at INFO: graph transformers, thread pools, arenas) is demoted to trace, which
// the channel hides unless the user picks "Trace" (Output view → gear → log level).
import type * as stream from 'stream';
import type * as vscode from 'vscode';
import * as readline from 'readline';

export type Level = 'trace' | 'debug' | 'info' | 'warn' | 'error';

export interface LogLine {
  level: Level;
  text: string;
}

const LINE = /^\S*\d{2}:\d{2}:\d{2}\S*\s+(TRACE|DEBUG|INFO|WARN|ERROR)\s+(.*)$/;
const LEVELS: Record<string, Level> = { TRACE: 'trace', DEBUG: 'debug', INFO: 'info', WARN: 'warn', ERROR: 'error' };

/**
 * One stderr line → its level and text (the timestamp dropped: the channel adds its own).
 * `previous` is the level of the line before, for continuation lines (multi-line messages,
 * backtraces); a panic is an error.
 */
export function parseServerLine(line: string, previous: Level = 'info'): LogLine {
  const clean = line.replace(/\x1b\[[0-9;]*m/g, '');
  const m = LINE.exec(clean);
  if (!m) {
    if (/^thread '.*' panicked/.test(clean)) {
      return { level: 'error', text: clean };
    }
    return { level: previous, text: clean };
  }
  let level = LEVELS[m[1]];
  const text = m[2];
  if (text.startsWith('ort::logging:') && (level === 'info' || level === 'debug')) {
    level = 'trace';
  }
  return { level, text };
}

/** Reads the server's stderr line by line into `channel`. */
export function pipeServerLog(input: stream.Readable, channel: vscode.LogOutputChannel): void {
  let previous: Level = 'info';
  readline
    .createInterface({ input, crlfDelay: Infinity, terminal: false, historySize: 0 })
    .on('line', (line: string) => {
      if (line.trim() === '') {
        return;
      }
      const { level, text } = parseServerLine(line, previous);
      previous = level;
      channel[level](text);
    });
}
