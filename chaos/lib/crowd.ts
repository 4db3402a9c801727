/**
 * The buyer crowd: Node's fetch to 127.0.0.1, behaving as the clients the contract describes.
 *
 * - A purchase carries an Idempotency-Key. When its answer is lost (no answer within the client's
 *   timeout, a reset) or says to come back (5xx, 409 PURCHASE_IN_PROGRESS, 409 LOCK_CONFLICT, 429),
 *   the buyer sends the same request with the same key again, after Retry-After (capped) or a short
 *   backoff, until an answer settles it or the buyer gives up.
 * - A hot-deal buyer orders (202 PENDING); when the order's answer is lost it looks at
 *   GET /api/orders/me before ordering again (the contract's advice), then confirms, cancels or
 *   leaves the order to expire. A few greedy buyers send three orders at once against the cap.
 * - Probes buy one unit every 200 ms of a large-stock product of each strategy, so there is always
 *   traffic to measure recovery with, whatever the sale's products have left.
 *
 * Every request is recorded with the runner's clock (the service's clock may be faked).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { ChaosStack, User } from './stack.ts';

export type ExchangeKind = 'purchase' | 'probe' | 'order' | 'orders-me' | 'confirm' | 'cancel' | 'resolve';

export interface Line {
  readonly product_id: number;
  readonly quantity: number;
}

/** One HTTP request and what came back. */
export interface Exchange {
  readonly kind: ExchangeKind;
  readonly userId: number;
  readonly key?: string;
  readonly lines?: readonly Line[];
  readonly orderId?: string;
  /** ms since the epoch, runner's clock. */
  readonly sentAt: number;
  readonly answeredAt: number;
  /** null: no answer (client timeout, connection reset). */
  readonly status: number | null;
  readonly code?: string;
  readonly purchaseId?: string;
  readonly retryAfterMs?: number;
}

/** A purchase a buyer means to make: one Idempotency-Key, one set of lines. */
export interface PurchaseIntent {
  readonly key: string;
  readonly user: User;
  readonly lines: readonly Line[];
  readonly kind: 'purchase' | 'probe';
}

export interface CrowdOptions {
  readonly clientTimeoutMs: number;
  /** A buyer stops retrying this long after its first request. */
  readonly giveUpMs: number;
}

const RETRY_CAP_MS = 4_000;

export class Recorder {
  readonly exchanges: Exchange[] = [];

  constructor(
    private readonly stack: ChaosStack,
    private readonly options: CrowdOptions,
  ) {}

  async send(
    kind: ExchangeKind,
    user: User,
    method: string,
    path: string,
    body: unknown,
    extra: { key?: string; lines?: readonly Line[]; orderId?: string } = {},
  ): Promise<Exchange & { body: unknown }> {
    const sentAt = Date.now();
    let status: number | null = null;
    // biome-ignore lint/suspicious/noExplicitAny: the JSON of any endpoint.
    let json: any = null;
    let retryAfterMs: number | undefined;
    try {
      const response = await fetch(`${this.stack.url}${path}`, {
        method,
        headers: {
          'content-type': 'application/json',
          authorization: `Bearer ${user.token}`,
          ...(extra.key && { 'idempotency-key': extra.key }),
        },
        ...(body !== undefined && { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(this.options.clientTimeoutMs),
      });
      const text = await response.text();
      status = response.status;
      json = text ? JSON.parse(text) : null;
      const retryAfter = Number(response.headers.get('retry-after'));
      if (retryAfter > 0) retryAfterMs = retryAfter * 1000;
    } catch {
      // No answer: the client cannot know what happened.
    }
    const exchange: Exchange = {
      kind,
      userId: user.userId,
      ...extra,
      sentAt,
      answeredAt: Date.now(),
      status,
      ...(typeof json?.code === 'string' && { code: json.code }),
      ...(status === 200 &&
        (kind === 'purchase' || kind === 'probe' || kind === 'resolve') && { purchaseId: String(json?.id) }),
      ...(status === 202 && kind === 'order' && { orderId: String(json?.id) }),
      ...(retryAfterMs !== undefined && { retryAfterMs }),
    };
    this.exchanges.push(exchange);
    return { ...exchange, body: json };
  }

  /** Whether an answer settles a purchase for the client (it stops retrying). */
  static settles(status: number | null, code: string | undefined): boolean {
    if (status === null || status >= 500 || status === 429) return false;
    return !(status === 409 && (code === 'PURCHASE_IN_PROGRESS' || code === 'LOCK_CONFLICT'));
  }

  /**
   * Exponential backoff with jitter, never shorter than the answer's Retry-After: a throttled or
   * failing service is not hammered by the crowd it is trying to serve.
   */
  async backoff(answer: Exchange, attempt: number): Promise<void> {
    const exponential = Math.min(RETRY_CAP_MS, 250 * 2 ** attempt);
    const wait = Math.max(answer.retryAfterMs ?? 0, exponential * (0.5 + Math.random() / 2));
    await sleep(wait);
  }

  /** A purchase with its retries; resolves when settled or given up. */
  async purchase(intent: PurchaseIntent): Promise<void> {
    const first = Date.now();
    const body =
      intent.lines.length === 1
        ? { product_id: intent.lines[0]?.product_id, quantity: intent.lines[0]?.quantity }
        : { items: intent.lines };
    for (let attempt = 0; ; attempt++) {
      const answer = await this.send(intent.kind, intent.user, 'POST', '/api/purchases', body, {
        key: intent.key,
        lines: intent.lines,
      });
      if (Recorder.settles(answer.status, answer.code)) return;
      if (Date.now() - first > this.options.giveUpMs) return;
      await this.backoff(answer, attempt);
    }
  }

  /** A hot-deal buyer: order, then confirm, cancel or walk away. */
  async hotDeal(user: User, productId: number, orders: number, choice: 'confirm' | 'cancel' | 'leave') {
    const adopted = new Set<string>();
    const ids = await Promise.all(Array.from({ length: orders }, () => this.order(user, productId, adopted)));
    for (const orderId of ids) {
      if (!orderId || choice === 'leave') continue;
      await sleep(100 + Math.random() * 400);
      await this.settleOrder(user, orderId, choice);
    }
  }

  /** `taken`: orders this buyer already holds (a greedy buyer's parallel orders share it). */
  private async order(user: User, productId: number, taken: Set<string>): Promise<string | undefined> {
    const first = Date.now();
    for (let attempt = 0; ; attempt++) {
      const answer = await this.send('order', user, 'POST', '/api/orders', {
        product_id: productId,
        quantity: 1,
      });
      if (answer.status === 202) {
        // biome-ignore lint/suspicious/noExplicitAny: an order's JSON.
        const id = String((answer.body as any).id);
        taken.add(id);
        return id;
      }
      if (answer.status !== null && answer.status < 500 && answer.status !== 429) return undefined;
      // The order may exist: look before ordering again, as the contract advises.
      const mine = await this.send('orders-me', user, 'GET', '/api/orders/me', undefined);
      if (mine.status === 200 && Array.isArray(mine.body)) {
        // biome-ignore lint/suspicious/noExplicitAny: an order's JSON.
        const lost = (mine.body as any[]).find(
          (order) =>
            order.product_id === productId && order.status === 'PENDING' && !taken.has(String(order.id)),
        );
        if (lost) {
          taken.add(String(lost.id));
          return String(lost.id);
        }
      }
      if (Date.now() - first > this.options.giveUpMs) return undefined;
      await this.backoff(answer, attempt);
    }
  }

  private async settleOrder(user: User, orderId: string, choice: 'confirm' | 'cancel') {
    const first = Date.now();
    for (let attempt = 0; ; attempt++) {
      const answer = await this.send(choice, user, 'POST', `/api/orders/${orderId}/${choice}`, undefined, {
        orderId,
      });
      if (answer.status !== null && answer.status < 500 && answer.status !== 429) return;
      if (Date.now() - first > this.options.giveUpMs) return;
      await this.backoff(answer, attempt);
    }
  }
}

/**
 * Buy one unit, wait `everyMs`, buy again, until `stop` says so; one purchase in flight at a time
 * (with its retries), so the probe measures the service without adding to a retry storm.
 */
export async function probe(
  recorder: Recorder,
  user: User,
  productId: number,
  tag: string,
  everyMs: number,
  stop: () => boolean,
): Promise<void> {
  for (let i = 0; !stop(); i++) {
    await recorder.purchase({
      kind: 'probe',
      key: `${tag}-probe-${productId}-${i}`,
      user,
      lines: [{ product_id: productId, quantity: 1 }],
    });
    await sleep(everyMs);
  }
}
