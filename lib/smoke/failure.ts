// A smoke test failure names the layer that failed, so the one line says where to look.
export type Layer = 'DNS' | 'TCP' | 'TLS' | 'HTTP' | 'authentication' | 'authorization' | 'backend' | 'digest';

export class SmokeFailure extends Error {
  override name = 'SmokeFailure';
  constructor(
    readonly layer: Layer,
    message: string,
  ) {
    super(`${layer}: ${message}`);
  }
}

const LABELS: Record<Layer, string> = {
  DNS: 'DNS',
  TCP: 'TCP',
  TLS: 'TLS',
  HTTP: 'HTTP',
  authentication: 'authentication',
  authorization: 'authorization',
  backend: 'backend behind the proxy',
  digest: 'digest mismatch',
};

export const layerLabel = (layer: Layer): string => LABELS[layer];
