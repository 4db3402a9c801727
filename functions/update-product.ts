import { actorOf, endpoint, productView, schemas } from '#shared/http';
import { productAdmin } from '#shared/wiring/stock';

export const handler = endpoint(
  'update-product',
  { params: schemas.idParams, body: schemas.updateProductBody },
  { products: productAdmin },
  async ({ params, body, caller, services }) => {
    // The schema is strict (an unknown field is a 422) and the fields are still named one by one.
    const changes = {
      name: body.name,
      description: body.description,
      price: body.price,
      max_per_user: body.max_per_user,
    };
    return productView(await services.products.update(params.id, changes, actorOf(caller)));
  },
);
