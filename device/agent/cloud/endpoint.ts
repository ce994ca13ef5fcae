import type { DeviceConfig } from '../../config.js';

/**
 * Where the device's OpenAI-compatible calls go. An explicit URL wins (with its key). Otherwise a
 * device provisioned for the cloud (AIDE_CLOUD_API_URL + its MQTT credentials) uses the cloud's LLM
 * proxy at <AIDE_CLOUD_API_URL>/v1/llm, signing in as `deviceId:password`, so the provider's key stays
 * in the cloud. Neither: undefined (offline only).
 */
export interface OpenAiEndpoint {
  baseUrl: string;
  apiKey: string;
  /** 'configured' (an explicit URL) or 'cloud-proxy' (derived from the provisioning). */
  via: 'configured' | 'cloud-proxy';
}

type ProxyConfig = Pick<DeviceConfig, 'AIDE_CLOUD_API_URL' | 'AIDE_MQTT_USERNAME' | 'AIDE_MQTT_PASSWORD'>;

export function cloudProxyEndpoint(c: ProxyConfig): OpenAiEndpoint | undefined {
  if (!c.AIDE_CLOUD_API_URL || !c.AIDE_MQTT_USERNAME || !c.AIDE_MQTT_PASSWORD) return undefined;
  return {
    baseUrl: new URL('/v1/llm', c.AIDE_CLOUD_API_URL).toString(),
    apiKey: `${c.AIDE_MQTT_USERNAME}:${c.AIDE_MQTT_PASSWORD}`,
    via: 'cloud-proxy',
  };
}

/** The agent's cloud LLM: LLM_BASE_URL (+ LLM_API_KEY), else the cloud proxy (AIDE_LLM_VIA_CLOUD), else none. */
export function llmEndpoint(
  c: ProxyConfig & Pick<DeviceConfig, 'LLM_BASE_URL' | 'LLM_API_KEY' | 'AIDE_LLM_VIA_CLOUD'>,
): OpenAiEndpoint | undefined {
  if (c.LLM_BASE_URL)
    return { baseUrl: c.LLM_BASE_URL, apiKey: c.LLM_API_KEY ?? 'not-needed', via: 'configured' };
  return c.AIDE_LLM_VIA_CLOUD ? cloudProxyEndpoint(c) : undefined;
}

/** The remote speech engines: AIDE_SPEECH_URL (+ AIDE_SPEECH_API_KEY), else the cloud proxy, else none. */
export function speechEndpoint(
  c: ProxyConfig & Pick<DeviceConfig, 'AIDE_SPEECH_URL' | 'AIDE_SPEECH_API_KEY'>,
): OpenAiEndpoint | undefined {
  if (c.AIDE_SPEECH_URL)
    return { baseUrl: c.AIDE_SPEECH_URL, apiKey: c.AIDE_SPEECH_API_KEY ?? 'not-needed', via: 'configured' };
  return cloudProxyEndpoint(c);
}
