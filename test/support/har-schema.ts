/**
 * The HAR 1.2 shape (http://www.softwareishard.com/blog/har-12-spec/), written from the spec as a
 * test oracle: every required field with its type, optional ones typed when present, custom fields
 * only with a leading underscore. Independent of main/common/har.ts, which it checks.
 */
import { z } from 'zod';

const custom = <S extends z.ZodRawShape>(shape: S) =>
  z
    .object({ ...shape, comment: z.string().optional() })
    .catchall(z.unknown())
    .superRefine((value, ctx) => {
      for (const key of Object.keys(value))
        if (!(key in shape) && key !== 'comment' && !key.startsWith('_'))
          ctx.addIssue({ code: 'custom', message: `unknown field "${key}" (custom fields start with "_")` });
    });

const nameValue = custom({ name: z.string(), value: z.string() });
const cookie = custom({
  name: z.string(),
  value: z.string(),
  path: z.string().optional(),
  domain: z.string().optional(),
  expires: z.string().nullable().optional(),
  httpOnly: z.boolean().optional(),
  secure: z.boolean().optional(),
});
const isoDate = z.string().refine((s) => !Number.isNaN(Date.parse(s)) && /T/.test(s), 'ISO 8601 date');

export const harSchema = z
  .object({
    log: custom({
      version: z.literal('1.2'),
      creator: custom({ name: z.string(), version: z.string() }),
      browser: custom({ name: z.string(), version: z.string() }).optional(),
      pages: z.array(z.unknown()).optional(),
      entries: z.array(
        custom({
          pageref: z.string().optional(),
          startedDateTime: isoDate,
          time: z.number().min(0),
          request: custom({
            method: z.string().min(1),
            url: z.url(),
            httpVersion: z.string(),
            cookies: z.array(cookie),
            headers: z.array(nameValue),
            queryString: z.array(nameValue),
            postData: custom({
              mimeType: z.string(),
              params: z.array(z.unknown()).optional(),
              text: z.string(),
            }).optional(),
            headersSize: z.number().int(),
            bodySize: z.number().int(),
          }),
          response: custom({
            status: z.number().int(),
            statusText: z.string(),
            httpVersion: z.string(),
            cookies: z.array(cookie),
            headers: z.array(nameValue),
            content: custom({
              size: z.number().int(),
              compression: z.number().int().optional(),
              mimeType: z.string(),
              text: z.string().optional(),
              encoding: z.string().optional(),
            }),
            redirectURL: z.string(),
            headersSize: z.number().int(),
            bodySize: z.number().int(),
          }),
          cache: z.object({}).catchall(z.unknown()),
          timings: custom({
            blocked: z.number().optional(),
            dns: z.number().optional(),
            connect: z.number().optional(),
            send: z.number(),
            wait: z.number(),
            receive: z.number(),
            ssl: z.number().optional(),
          }),
          serverIPAddress: z.string().optional(),
          connection: z.string().optional(),
        }),
      ),
    }),
  })
  .strict();
