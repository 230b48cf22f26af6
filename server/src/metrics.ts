/**
 * A minimal Prometheus registry: counters and histograms with labels, rendered in the text
 * exposition format at /metrics. Small enough to own rather than depend on.
 */
type Labels = Record<string, string>;

function labelKey(labels: Labels): string {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}="${String(labels[k]).replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`)
    .join(',');
}

class Counter {
  private readonly values = new Map<string, number>();
  constructor(readonly name: string, readonly help: string) {}
  inc(labels: Labels = {}, by = 1): void {
    const key = labelKey(labels);
    this.values.set(key, (this.values.get(key) ?? 0) + by);
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    for (const [key, value] of this.values) lines.push(`${this.name}${key ? `{${key}}` : ''} ${value}`);
    return lines.join('\n');
  }
}

class Histogram {
  private readonly series = new Map<string, { buckets: number[]; sum: number; count: number }>();
  constructor(readonly name: string, readonly help: string, readonly bounds: number[]) {}
  observe(labels: Labels, value: number): void {
    const key = labelKey(labels);
    let s = this.series.get(key);
    if (!s) {
      s = { buckets: this.bounds.map(() => 0), sum: 0, count: 0 };
      this.series.set(key, s);
    }
    for (let i = 0; i < this.bounds.length; i++) if (value <= this.bounds[i]!) s.buckets[i]!++;
    s.sum += value;
    s.count++;
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const [key, s] of this.series) {
      const sep = key ? `${key},` : '';
      this.bounds.forEach((b, i) => lines.push(`${this.name}_bucket{${sep}le="${b}"} ${s.buckets[i]}`));
      lines.push(`${this.name}_bucket{${sep}le="+Inf"} ${s.count}`);
      lines.push(`${this.name}_sum${key ? `{${key}}` : ''} ${s.sum}`);
      lines.push(`${this.name}_count${key ? `{${key}}` : ''} ${s.count}`);
    }
    return lines.join('\n');
  }
}

export class Metrics {
  readonly httpRequests = new Counter('discern_http_requests_total', 'HTTP requests by route and status code');
  readonly httpDuration = new Histogram('discern_http_request_duration_seconds', 'HTTP request duration', [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120]);
  readonly detectsFinished = new Counter('discern_detects_finished_total', 'Detects that reached a terminal state');
  readonly analysisDuration = new Histogram('discern_analysis_duration_seconds', 'Wall time of one analysis job', [0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300]);

  async render(extraGauges: () => Promise<Record<string, number>>): Promise<string> {
    const gauges = await extraGauges();
    const gaugeLines = [`# HELP discern_jobs Jobs in the queue by state`, `# TYPE discern_jobs gauge`];
    for (const [state, n] of Object.entries(gauges)) gaugeLines.push(`discern_jobs{state="${state}"} ${n}`);
    const mem = process.memoryUsage();
    return [
      this.httpRequests.render(),
      this.httpDuration.render(),
      this.detectsFinished.render(),
      this.analysisDuration.render(),
      gaugeLines.join('\n'),
      `# HELP discern_process_resident_memory_bytes Resident memory\n# TYPE discern_process_resident_memory_bytes gauge\ndiscern_process_resident_memory_bytes ${mem.rss}`,
      '',
    ].join('\n');
  }
}
