import { ApplicationFailure, ChildWorkflowFailure, executeChild, workflowInfo } from '@temporalio/workflow';
import { certificateNameOf, certificateWorkflowId, type RevocationReason } from '../domain/certificates/model.js';
import type { certificateWorkflow, CertificateWorkflowResult } from './certificate.js';

/**
 * The `certificates.rotate` step: an emergency re-issue run as a child under the certificate's own
 * workflow id (so it never overlaps a scheduled renewal of the same certificate), which issues a new
 * key and certificate, revokes the old serial and publishes a new CRL. The incident waits for it.
 */
export async function rotateCertificateStep(params: Record<string, unknown>): Promise<{ output: { [key: string]: unknown }; resources: string[]; message: string }> {
  const ref = typeof params.certificate === 'string' ? params.certificate : '';
  const name = certificateNameOf(ref);
  if (!name) throw ApplicationFailure.nonRetryable(`parameter certificate: "${ref}" is not a certificate name or a bulwark certificate secret (bulwark/certificates/<name>)`, 'InvalidParameters');
  const workflowId = certificateWorkflowId(name);
  let r: CertificateWorkflowResult;
  try {
    r = await executeChild<typeof certificateWorkflow>('certificateWorkflow', {
      workflowId,
      args: [{ action: 'reissue', certificate: name, reason: (params.reason as RevocationReason | undefined) ?? 'keyCompromise', requestedBy: workflowInfo().workflowId, note: 'incident playbook step certificates.rotate' }],
    });
  } catch (err) {
    if ((err as { name?: string }).name === 'WorkflowExecutionAlreadyStartedError') {
      throw ApplicationFailure.nonRetryable(`a certificate workflow for ${name} (${workflowId}) is already running: retry this step when it has finished`, 'CertificateBusy');
    }
    let e: unknown = err;
    while (e instanceof ChildWorkflowFailure && e.cause) e = e.cause;
    throw ApplicationFailure.nonRetryable(`re-issue of certificate ${name} failed: ${(e as Error).message}`, (e as ApplicationFailure).type ?? 'CertificateFailed');
  }
  const c = r.certificate!;
  return {
    output: { workflowId, certificate: c, previousSerial: r.previous?.serial, revoked: r.revoked, crl: r.crl },
    resources: [c.secretArn, `serial:${c.serial}`, ...(r.previous ? [`revoked-serial:${r.previous.serial}`] : []), ...(r.crl ? [r.crl.location] : [])],
    message: `re-issued certificate ${name}: new serial ${c.serial} (valid until ${c.notAfter}); serial ${r.previous?.serial} revoked, CRL ${r.crl?.crlNumber} published to ${r.crl?.location}`,
  };
}
