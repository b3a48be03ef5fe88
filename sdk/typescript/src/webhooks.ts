/** Checking that a webhook request really came from the memory server (Standard Webhooks). */

const encoder = new TextEncoder();

function fromBase64(text: string): Uint8Array<ArrayBuffer> {
  const binary = atob(text);
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

function toBase64(bytes: ArrayBuffer): string {
  return btoa(String.fromCharCode(...new Uint8Array(bytes)));
}

/** Constant-time comparison of two strings of the same alphabet. */
function sameText(a: string, b: string): boolean {
  let difference = a.length ^ b.length;
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    difference |= (a.charCodeAt(i) || 0) ^ (b.charCodeAt(i) || 0);
  }
  return difference === 0;
}

export interface VerifyOptions {
  /** Largest accepted distance, in seconds, between the timestamp and now (default 300). */
  toleranceSeconds?: number;
  /** The current Unix time in seconds (for tests). */
  now?: number;
}

/**
 * True if the signature matches the raw body and the timestamp is recent enough.
 * `headers` may be a `Headers` object or a plain object with any capitalisation.
 */
export async function verifyWebhook(
  secret: string,
  headers: Headers | Record<string, string>,
  body: string,
  options: VerifyOptions = {},
): Promise<boolean> {
  const found = headers instanceof Headers ? headers : new Headers(headers);
  const id = found.get("webhook-id");
  const timestamp = Number(found.get("webhook-timestamp"));
  const signatures = (found.get("webhook-signature") ?? "").split(" ");
  if (!id || !Number.isInteger(timestamp)) return false;
  const now = options.now ?? Date.now() / 1000;
  if (Math.abs(now - timestamp) > (options.toleranceSeconds ?? 300)) return false;
  let keyBytes: Uint8Array<ArrayBuffer>;
  try {
    keyBytes = fromBase64(secret.replace(/^whsec_/, ""));
  } catch {
    return false;
  }
  const key = await crypto.subtle.importKey("raw", keyBytes, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const signed = await crypto.subtle.sign("HMAC", key, encoder.encode(`${id}.${timestamp}.${body}`));
  const expected = toBase64(signed);
  return signatures.some((signature) => signature.startsWith("v1,") && sameText(signature.slice(3), expected));
}
