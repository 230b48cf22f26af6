/**
 * C2PA Content Credentials, read and validated with @trustnxt/c2pa-ts (pure TypeScript).
 *
 * What is checked: the claim signature (COSE) and the hashed references/hard binding to the asset
 * bytes, as the library implements them. What is NOT checked: the signer's chain of trust against
 * a trust list (the library does not do it yet), so a valid signature proves integrity since
 * signing, not who signed. WebP is not supported by the library for binding validation: its
 * manifest is read and reported, but its validation state is "not validated".
 */
import { ActionAssertion, ManifestStore, ValidationResult } from '@trustnxt/c2pa-ts/manifest';
import { JPEG, PNG } from '@trustnxt/c2pa-ts/asset';
import { SuperBox } from '@trustnxt/c2pa-ts/jumbf';

export type C2paValidationState = 'valid' | 'invalid' | 'not_validated' | 'unreadable';

export interface C2paReport {
  validation: C2paValidationState;
  claimGenerator?: string;
  title?: string;
  actions: { action: string; digitalSourceType?: string; softwareAgent?: string }[];
  digitalSourceTypes: string[];
  /** Failure codes from validation (empty when valid). */
  errors: string[];
  manifestCount: number;
}

function summariseStore(store: ManifestStore): Omit<C2paReport, 'validation' | 'errors'> {
  const active = store.getActiveManifest();
  const actions: C2paReport['actions'] = [];
  const sourceTypes = new Set<string>();
  for (const assertion of active?.assertions?.assertions ?? []) {
    if (assertion instanceof ActionAssertion) {
      for (const a of assertion.actions) {
        const dst = a.digitalSourceType ? String(a.digitalSourceType) : undefined;
        if (dst) sourceTypes.add(dst);
        actions.push({ action: String(a.action), digitalSourceType: dst, softwareAgent: a.softwareAgent?.name });
      }
    }
  }
  const claim = active?.claim;
  const generator = claim ? [claim.claimGeneratorName, claim.claimGeneratorVersion].filter(Boolean).join(' ') : undefined;
  return {
    claimGenerator: generator || undefined,
    title: claim?.title,
    actions,
    digitalSourceTypes: [...sourceTypes],
    manifestCount: store.manifests.length,
  };
}

/**
 * @param fileBytes the whole file (needed for hash-binding checks)
 * @param jumbf the manifest store found by our own container walk (used for formats the library cannot read)
 */
export async function inspectC2pa(fileBytes: Buffer, jumbf: Buffer | undefined): Promise<C2paReport | null> {
  const data = new Uint8Array(fileBytes.buffer, fileBytes.byteOffset, fileBytes.byteLength);
  let asset: JPEG | PNG | null = null;
  try {
    if (JPEG.canRead(data)) asset = new JPEG(data);
    else if (PNG.canRead(data)) asset = new PNG(data);
  } catch {
    asset = null;
  }
  let manifestBytes: Uint8Array | undefined;
  try {
    manifestBytes = asset?.getManifestJUMBF() ?? undefined;
  } catch {
    manifestBytes = undefined;
  }
  if (!manifestBytes && jumbf) manifestBytes = new Uint8Array(jumbf.buffer, jumbf.byteOffset, jumbf.byteLength);
  if (!manifestBytes) return null;

  let store: ManifestStore;
  try {
    store = ManifestStore.read(SuperBox.fromBuffer(new Uint8Array(manifestBytes)));
  } catch (error) {
    return { validation: 'unreadable', actions: [], digitalSourceTypes: [], errors: [`manifest store unreadable: ${(error as Error).message}`], manifestCount: 0 };
  }
  let summary: Omit<C2paReport, 'validation' | 'errors'>;
  try {
    summary = summariseStore(store);
  } catch (error) {
    return { validation: 'unreadable', actions: [], digitalSourceTypes: [], errors: [`manifest unreadable: ${(error as Error).message}`], manifestCount: store.manifests.length };
  }
  if (!asset) return { ...summary, validation: 'not_validated', errors: ['asset format not supported for binding validation'] };
  let result: ValidationResult;
  try {
    result = await store.validate(asset);
  } catch (error) {
    result = ValidationResult.fromError(error as Error);
  }
  const errors = result.statusEntries.filter((e) => e.success === false).map((e) => [e.code, e.explanation].filter(Boolean).join(': '));
  return { ...summary, validation: result.isValid ? 'valid' : 'invalid', errors };
}
