import { LogLevel, type Logger as SlackLogger } from '@slack/web-api';
import type { Logger } from './logger.js';

/**
 * Slack's logger interface (Bolt's and the Web API client's) on top of ours (pino): their messages
 * are structured and go through the same redaction and secret scrubber, instead of Slack's own
 * console logger.
 */
export function slackLogger(logger: Logger, tag: Record<string, unknown> = { bolt: true }): SlackLogger {
  let level: LogLevel = LogLevel.INFO;
  return {
    debug: (...msg: unknown[]) => logger.debug(tag, msg.map(String).join(' ')),
    info: (...msg: unknown[]) => logger.info(tag, msg.map(String).join(' ')),
    warn: (...msg: unknown[]) => logger.warn(tag, msg.map(String).join(' ')),
    error: (...msg: unknown[]) => logger.error(tag, msg.map((m) => (m instanceof Error ? m.message : String(m))).join(' ')),
    setLevel: (l: LogLevel) => {
      level = l;
    },
    getLevel: () => level,
    setName: () => {},
  };
}
