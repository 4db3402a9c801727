/** Request schemas of the contract (../shared/CONTRACT.md), shared by the handlers. */
// A namespace import lets the bundler drop the parts of zod no schema uses (its locales, most of all).
import * as z from 'zod';
import { MAX_PASSWORD_BYTES, MIN_PASSWORD_BYTES } from '../auth/password-limits.ts';
import { MAX_STOCK_SHARDS } from '../model.ts';

export const username = z
  .string()
  .min(3, 'must be at least 3 characters')
  .max(50, 'must be at most 50 characters')
  .regex(/^[A-Za-z0-9_.-]+$/, 'may contain only letters, digits, "_", "." and "-"');

/** bcrypt reads 72 bytes: a longer password is refused, never silently truncated. */
export const password = z
  .string()
  .refine(
    (p) => Buffer.byteLength(p, 'utf8') >= MIN_PASSWORD_BYTES,
    `must be at least ${MIN_PASSWORD_BYTES} bytes`,
  )
  .refine(
    (p) => Buffer.byteLength(p, 'utf8') <= MAX_PASSWORD_BYTES,
    `must be at most ${MAX_PASSWORD_BYTES} bytes`,
  );

export const registerBody = z.object({
  username,
  password,
  email: z.email().max(254).optional(),
});

/** Login checks credentials, not their format: any mismatch is the same 401. */
export const loginBody = z.object({
  username: z.string().min(1).max(200),
  password: z.string().min(1).max(1024),
});

const wholeNumber = z.number().int('must be a whole number');

/** A cart's total must stay an exact integer (≤ 2^53): 10 items × 10^10 won × 10^4 units = 10^15. */
const MAX_PRICE = 10_000_000_000;
const MAX_QUANTITY = 10_000;

/** Ids are bounded like the path's: past 10^15 a number is no id we issued (and not exact in JSON). */
export const MAX_ID = 999_999_999_999_999;
const productId = wholeNumber.positive().max(MAX_ID);
const quantity = wholeNumber.positive().max(MAX_QUANTITY);
const purchaseItem = z.object({ product_id: productId, quantity });

/** A cart holds 1 to 10 distinct products (repeats are refused, not merged: a client bug shows). */
export const MAX_CART_ITEMS = 10;

const distinctProducts = (items: readonly { product_id: number }[]) =>
  new Set(items.map((i) => i.product_id)).size === items.length;

export const createProductBody = z.object({
  name: z.string().trim().min(1).max(200),
  description: z.string().max(2000).nullish(),
  price: wholeNumber.nonnegative().max(MAX_PRICE),
  stock: wholeNumber.nonnegative().max(100_000_000),
  /** Extension: how purchases of this product are serialized; the configured default otherwise. */
  strategy: z.enum(['lock', 'atomic']).optional(),
  /** Extension: DynamoDB items the durable stock is split across (a hot product's write ceiling × K). */
  stock_shards: wholeNumber.min(1).max(MAX_STOCK_SHARDS).optional(),
  /** Extension: a bundle ("A+B+C set"); buying one takes these too, all or nothing. */
  components: z
    .array(purchaseItem)
    .min(1)
    .max(MAX_CART_ITEMS)
    .refine(distinctProducts, 'must name each product once')
    .optional(),
  /**
   * Extension: the most units of this product one buyer may hold over all their plain purchases
   * (bundles count for their components); null or absent: no cap.
   */
  max_per_user: wholeNumber.positive().max(MAX_QUANTITY).nullish(),
});

/** A positive integer in a path: API Gateway hands it over as a string. */
export const idParams = z.object({
  id: z
    .string()
    .regex(/^[1-9]\d{0,14}$/, 'must be a positive integer below 10^15')
    .transform(Number),
});

/** `?limit=` with no value means the default, as a missing parameter does. */
const blankAsMissing = (value: unknown) => (value === '' ? undefined : value);

export const pageQuery = z.object({
  skip: z.preprocess(blankAsMissing, z.coerce.number().int().min(0).default(0)),
  limit: z.preprocess(blankAsMissing, z.coerce.number().int().min(1).max(1000).default(100)),
});

/**
 * Either the contract's `{product_id, quantity}` or a cart `{items: [{product_id, quantity}, ...]}`;
 * both come out as `{single, items}`.
 */
export const purchaseBody = z
  .object({
    product_id: productId.optional(),
    quantity: quantity.optional(),
    items: z
      .array(purchaseItem)
      .min(1)
      .max(MAX_CART_ITEMS)
      .refine(distinctProducts, 'must name each product once')
      .optional(),
  })
  .superRefine((body, ctx) => {
    if (body.items !== undefined) {
      if (body.product_id !== undefined || body.quantity !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['items'],
          message: 'send either items or product_id and quantity, not both',
        });
      }
      return;
    }
    if (body.product_id === undefined)
      ctx.addIssue({ code: 'custom', path: ['product_id'], message: 'Required' });
    if (body.quantity === undefined)
      ctx.addIssue({ code: 'custom', path: ['quantity'], message: 'Required' });
  })
  .transform((body) => ({
    single: body.items === undefined,
    items: body.items ?? [{ product_id: body.product_id as number, quantity: body.quantity as number }],
  }));

/** Optional `Idempotency-Key`: printable ASCII, as the IETF draft and the big payment APIs use it. */
export const idempotencyHeaders = z.object({
  'idempotency-key': z
    .string()
    .min(1)
    .max(255)
    .regex(/^[\x21-\x7e]+$/, 'must be 1-255 printable ASCII characters')
    .optional(),
});

/** `POST /api/orders`: one product of a hot deal. */
export const orderBody = z.object({ product_id: productId, quantity });

/** An order id in a path: a ULID (Crockford base32, 26 characters). */
export const orderIdParams = z.object({
  id: z.string().regex(/^[0-9A-HJKMNP-TV-Z]{26}$/, 'must be an order id (a ULID)'),
});

/** `POST /api/products/{id}/hotdeal/start`: every field optional (`{}` opens an unlimited deal). */
export const hotDealStartBody = z.object({
  ends_at: z.iso
    .datetime({ offset: true })
    .refine((at) => Date.parse(at) > Date.now(), 'must be in the future')
    .optional(),
  max_per_user: wholeNumber.positive().max(MAX_QUANTITY).optional(),
  reservation_ttl_seconds: wholeNumber
    .min(1)
    .max(24 * 60 * 60)
    .optional(),
});

/** `PATCH /api/products/{id}`: any of name, description, price, max_per_user (null: no cap); at least one. */
export const updateProductBody = z
  .object({
    name: createProductBody.shape.name.optional(),
    description: createProductBody.shape.description,
    price: createProductBody.shape.price.optional(),
    max_per_user: createProductBody.shape.max_per_user,
  })
  .strict()
  .refine(
    (body) =>
      body.name !== undefined ||
      body.description !== undefined ||
      body.price !== undefined ||
      body.max_per_user !== undefined,
    'send at least one of name, description, price, max_per_user',
  );

/** `POST /api/admin/products/{id}/stock-adjustments`: units to add (positive) or remove (negative). */
export const stockAdjustmentBody = z.object({
  delta: wholeNumber
    .min(-100_000_000)
    .max(100_000_000)
    .refine((d) => d !== 0, 'must not be zero'),
  reason: z.string().trim().min(1, 'must say why').max(500),
});

/** `/api/admin/locks/{product_id}`. */
export const lockParams = z.object({ product_id: idParams.shape.id });

const optionalId = z.preprocess(
  blankAsMissing,
  z
    .string()
    .regex(/^[1-9]\d{0,14}$/, 'must be a positive integer below 10^15')
    .transform(Number)
    .optional(),
);
const cursor = z.preprocess(
  blankAsMissing,
  z
    .string()
    .max(2048)
    .regex(/^[A-Za-z0-9_-]+$/, 'must be a cursor from an earlier page')
    .optional(),
);
const pageLimit = z.preprocess(blankAsMissing, z.coerce.number().int().min(1).max(100).default(50));

/** `GET /api/admin/purchases?product_id=&user_id=&limit=&cursor=`. */
export const adminPurchasesQuery = z.object({
  product_id: optionalId,
  user_id: optionalId,
  limit: pageLimit,
  cursor,
});

/** `GET /api/admin/audit?product_id=&limit=&cursor=`. */
export const auditQuery = z.object({ product_id: optionalId, limit: pageLimit, cursor });

/** `PATCH /api/admin/users/{id}`. */
export const roleBody = z.object({ role: z.enum(['user', 'admin']) });

/** `/api/docs/{asset}`: a file name; which names exist is the docs' business (404 otherwise). */
export const assetParams = z.object({ asset: z.string().max(100) });

/** `GET /api/admin/inventory/verify?product_id=1,2,3` (extension): the audit of those products only. */
export const verifyQuery = z.object({
  product_id: z.preprocess(
    blankAsMissing,
    z
      .string()
      .regex(/^[1-9]\d{0,14}(,[1-9]\d{0,14}){0,49}$/, 'must be up to 50 comma-separated product ids')
      .transform((ids) => [...new Set(ids.split(',').map(Number))])
      .optional(),
  ),
});
