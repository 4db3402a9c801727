import { endpoint } from '#shared/http';
import { openApiDocument } from '#shared/http/openapi';

let document: ReturnType<typeof openApiDocument> | undefined;

export const handler = endpoint('get-openapi', {}, {}, async () => {
  document ??= openApiDocument();
  return document;
});
