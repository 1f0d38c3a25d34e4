/**
 * Classifies errors from external systems: a retry can help (throttling, 5xx, timeouts, resets)
 * or it cannot (not found, access denied, invalid input) and the step must fail now with a reason.
 */
export type ErrorClass = 'retryable' | 'fatal';

const FATAL_NAMES = new Set([
  'NotFoundException',
  'ResourceNotFoundException',
  'AccessDeniedException',
  'AccessDenied',
  'UnauthorizedException',
  'UnrecognizedClientException',
  'InvalidSignatureException',
  'ValidationException',
  'BadRequestException',
  'InvalidParameterException',
  'InvalidRequestException',
  'InvalidParameterValueException',
  'ConflictException',
  'DisabledException',
  'KMSInvalidStateException',
  'NotFoundError',
]);

const RETRYABLE_NAMES = new Set([
  'ThrottlingException',
  'Throttling',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'LimitExceededException',
  'ServiceUnavailable',
  'ServiceUnavailableException',
  'InternalServiceError',
  'InternalServiceErrorException',
  'InternalFailure',
  'KMSInternalException',
  'DependencyTimeoutException',
  'TimeoutError',
  'RequestTimeout',
]);

const RETRYABLE_NETWORK_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'ENOTFOUND', 'UND_ERR_SOCKET']);

export interface ErrorFacts {
  name?: string;
  code?: string;
  httpStatus?: number;
}

export function classifyError(facts: ErrorFacts): ErrorClass {
  const { name, code, httpStatus } = facts;
  if (name && FATAL_NAMES.has(name)) return 'fatal';
  if (name && RETRYABLE_NAMES.has(name)) return 'retryable';
  if (code && RETRYABLE_NETWORK_CODES.has(code)) return 'retryable';
  if (httpStatus !== undefined) {
    if (httpStatus === 429 || httpStatus >= 500) return 'retryable';
    if (httpStatus >= 400) return 'fatal';
  }
  // Unknown failures (no HTTP answer at all) are most often transient network trouble.
  return 'retryable';
}
