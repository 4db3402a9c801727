#!/usr/bin/env node
/** Entry point of `cdk synth|diff|deploy` (cdk.json: `npx tsx bin/app.ts`). */
import { createFlashSaleApp } from '../lib/app.ts';

createFlashSaleApp();
