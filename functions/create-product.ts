import { actorOf, endpoint, productView, schemas } from '#shared/http';
import { productAdmin } from '#shared/wiring/stock';

export const handler = endpoint(
  'create-product',
  { body: schemas.createProductBody },
  { products: productAdmin },
  async ({ body, caller, services }) => {
    // Named fields only: nothing else in the body can reach the product record.
    const product = await services.products.create(
      {
        name: body.name,
        description: body.description,
        price: body.price,
        stock: body.stock,
        strategy: body.strategy,
        components: body.components,
        stock_shards: body.stock_shards,
        max_per_user: body.max_per_user,
      },
      actorOf(caller),
    );
    return productView(product);
  },
);
