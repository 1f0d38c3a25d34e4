import type { Alert } from '../domain/alert.js';
import type { FeedConfig } from '../domain/intel/config.js';
import { IndicatorMatcher, type IntelMatch } from '../domain/intel/match.js';
import type { Indicator } from '../domain/intel/feeds.js';
import { loadFeed, redactUrl } from '../activities/intel.js';
import type { Logger } from '../telemetry/logger.js';

/** What the deliverer needs: an alert in, the same alert (enriched when it matched) out. Never throws. */
export interface AlertEnricher {
  enrich(alert: Alert): Promise<Alert>;
}

/**
 * The indicators of the configured feeds, for enriching alerts at intake: an alert whose
 * `subject.sourceIp` is covered by an indicator gets `details.intel` (indicator, feed, confidence),
 * which playbooks route on (`match.intel`) and read in conditions (`alert.details.intel.confidence`).
 * A feed that fails to load keeps its previous indicators; enrichment never delays or fails intake
 * beyond the first load.
 */
export class IntelIndex implements AlertEnricher {
  private byFeed = new Map<string, Indicator[]>();
  private matcher = new IndicatorMatcher([]);
  private timer?: NodeJS.Timeout;
  private ready: Promise<unknown>;

  constructor(
    private readonly feeds: readonly FeedConfig[],
    private readonly logger?: Logger,
  ) {
    this.ready = feeds.length ? this.reload() : Promise.resolve();
  }

  get size(): number {
    return this.matcher.size;
  }

  async reload(): Promise<{ feed: string; indicators?: number; error?: string }[]> {
    const report = await Promise.all(
      this.feeds.filter((f) => f.enrich).map(async (f) => {
        try {
          const loaded = await loadFeed(f);
          this.byFeed.set(f.name, loaded.indicators);
          return { feed: f.name, indicators: loaded.indicators.length };
        } catch (err) {
          const error = (err as Error).message;
          this.logger?.warn({ feed: f.name, source: redactUrl(f.source) }, `threat-intel feed ${f.name} not reloaded (previous indicators kept): ${error}`);
          return { feed: f.name, error };
        }
      }),
    );
    this.matcher = new IndicatorMatcher([...this.byFeed.values()].flat());
    this.logger?.info({ indicators: this.matcher.size }, 'threat-intel indicators loaded for enrichment');
    return report;
  }

  /** Reloads every `seconds`; the timer does not keep the process alive. */
  refreshEvery(seconds: number): this {
    if (seconds > 0 && this.feeds.length) {
      this.timer = setInterval(() => void this.reload(), seconds * 1000);
      this.timer.unref();
    }
    return this;
  }

  close(): void {
    clearInterval(this.timer);
  }

  match(ip: string): IntelMatch | undefined {
    return this.matcher.match(ip);
  }

  async enrich(alert: Alert): Promise<Alert> {
    const ip = alert.subject.sourceIp;
    if (!ip) return alert;
    try {
      await this.ready;
      const intel = this.matcher.match(ip);
      // A sender cannot forge enrichment: any `details.intel` it sent is replaced (or removed).
      const { intel: _sent, ...details } = alert.details ?? {};
      if (!intel) return _sent === undefined ? alert : { ...alert, details };
      return { ...alert, details: { ...details, intel } };
    } catch {
      return alert;
    }
  }
}

/** The enricher for the configured feeds, or undefined when none is configured. */
export function configuredIntel(config: { intel: { feeds: FeedConfig[]; refreshSeconds: number } }, logger?: Logger): IntelIndex | undefined {
  if (!config.intel.feeds.some((f) => f.enrich)) return undefined;
  return new IntelIndex(config.intel.feeds, logger).refreshEvery(config.intel.refreshSeconds);
}

/**
 * The deliverer's hook: enrich with the configured feeds; without any, only strip a sender's own
 * `details.intel`, which must never route an alert to the intel playbooks.
 */
export async function enrichAlert(enricher: AlertEnricher | undefined, alert: Alert): Promise<Alert> {
  if (enricher) return enricher.enrich(alert);
  if (alert.details?.intel === undefined) return alert;
  const { intel: _forged, ...details } = alert.details;
  return { ...alert, details };
}
