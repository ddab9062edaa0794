/**
 * The shapes of the ngrok API's requests and responses this app uses (shared/ngrok-protocol.md §1).
 * Only `id` is required. A field of an unexpected type reads as absent, so one odd field in an
 * otherwise usable answer does not fail a whole poll.
 */
import { z } from 'zod';

const optionalText = z.string().optional().catch(undefined);
const optionalTexts = z.array(z.string()).optional().catch(undefined);

const operatorCertSchema = z.object({
  cert: z.string().catch(''),
  not_before: z.string().catch(''),
  not_after: z.string().catch(''),
});

export const operatorSchema = z.object({
  id: z.string().min(1),
  uri: optionalText,
  created_at: optionalText,
  updated_at: optionalText,
  description: optionalText,
  metadata: optionalText,
  enabled_features: optionalTexts,
  region: optionalText,
  binding: z
    .object({
      endpoint_selectors: optionalTexts,
      cert: operatorCertSchema.nullish().catch(undefined),
      ingress_endpoint: optionalText,
    })
    .nullish()
    .catch(undefined),
});

export const endpointSchema = z.object({
  id: z.string().min(1),
  url: optionalText,
  /** Deprecated by ngrok; read when `url` is absent. */
  public_url: optionalText,
  proto: optionalText,
  hostport: optionalText,
  host: optionalText,
  port: z.number().optional().catch(undefined),
  type: optionalText,
  name: optionalText,
  description: optionalText,
  metadata: optionalText,
  bindings: optionalTexts,
  pooling_enabled: z.boolean().optional().catch(undefined),
  created_at: optionalText,
  updated_at: optionalText,
  uri: optionalText,
});

/**
 * A bound endpoint as discovery reads it. Polls list every bound endpoint, so only these fields are
 * parsed and kept: at 10,000 endpoints the rest is megabytes of garbage per poll.
 */
export const boundEndpointSchema = endpointSchema.pick({
  id: true,
  url: true,
  public_url: true,
  name: true,
  description: true,
});

export type OperatorCert = z.infer<typeof operatorCertSchema>;
export type Operator = z.infer<typeof operatorSchema>;
export type Endpoint = z.infer<typeof endpointSchema>;
export type BoundEndpoint = z.infer<typeof boundEndpointSchema>;

export interface OperatorCreate {
  /** At most 255 bytes. */
  description: string;
  /** Free-form, at most 4096 bytes; JSON text by convention. */
  metadata: string;
  enabled_features: string[];
  region: string;
  binding: { endpoint_selectors: string[]; csr: string };
}

export interface OperatorUpdate {
  description?: string;
  metadata?: string;
  enabled_features?: string[];
  region?: string;
  binding?: { endpoint_selectors?: string[]; csr?: string };
}

/** The body of a failed request. */
export const errorBodySchema = z.object({
  error_code: optionalText,
  msg: optionalText,
  details: z.object({ operation_id: optionalText }).optional().catch(undefined),
});

export type ErrorBody = z.infer<typeof errorBodySchema>;
