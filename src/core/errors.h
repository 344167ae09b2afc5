/* One table of every error tweedle returns: the HTTP status, the AWS error code,
 * the legacy query-protocol code SQS puts in x-amzn-query-error, whether the
 * fault is the Sender's or the Receiver's, and the default message.
 * Handlers return a tw_err; one renderer per protocol turns it into bytes. */
#ifndef TW_CORE_ERRORS_H
#define TW_CORE_ERRORS_H

/* X(name, http_status, aws_code, json_type, query_code, sender, default_message)
 * json_type: the shape after "com.amazonaws.sqs#" in the JSON protocol's __type. */
#define TW_ERRORS(X)                                                                               \
  X(OK, 200, "", "", "", 1, "")                                                                    \
  X(INTERNAL, 500, "InternalError", "InternalError", "InternalError", 0,                           \
    "We encountered an internal error. Please try again.")                                         \
  X(SERVICE_UNAVAILABLE, 503, "ServiceUnavailable", "ServiceUnavailable", "ServiceUnavailable", 0, \
    "Service is unable to handle request.")                                                        \
  /* authentication */                                                                             \
  X(MISSING_AUTH, 403, "MissingAuthenticationToken", "MissingAuthenticationTokenException",        \
    "MissingAuthenticationToken", 1, "Request is missing Authentication Token")                    \
  X(INCOMPLETE_SIGNATURE, 400, "IncompleteSignature", "IncompleteSignatureException",              \
    "IncompleteSignature", 1, "The request signature does not conform to AWS standards.")          \
  X(SIGNATURE_MISMATCH, 403, "SignatureDoesNotMatch", "SignatureDoesNotMatchException",            \
    "SignatureDoesNotMatch", 1,                                                                    \
    "The request signature we calculated does not match the signature you provided. Check your "   \
    "AWS Secret Access Key and signing method. Consult the service documentation for details.")    \
  X(INVALID_CLIENT_TOKEN, 403, "InvalidClientTokenId", "InvalidClientTokenIdException",            \
    "InvalidClientTokenId", 1, "The security token included in the request is invalid.")           \
  X(REQUEST_EXPIRED, 400, "RequestExpired", "RequestExpiredException", "RequestExpired", 1,        \
    "Request has expired.")                                                                        \
  X(ACCESS_DENIED, 403, "AccessDenied", "AccessDeniedException", "AccessDenied", 1,                \
    "Access to the resource is denied.")                                                           \
  /* request shape */                                                                              \
  X(INVALID_ACTION, 400, "InvalidAction", "InvalidAction", "InvalidAction", 1,                     \
    "The action or operation requested is invalid. Verify that the action is typed correctly.")    \
  X(UNKNOWN_OPERATION, 400, "UnknownOperationException", "UnknownOperationException",              \
    "UnknownOperationException", 1, "Unknown operation")                                           \
  X(MALFORMED_JSON, 400, "SerializationException", "SerializationException",                       \
    "SerializationException", 1, "Start of structure or map found where not expected.")            \
  X(MISSING_PARAMETER, 400, "MissingParameter", "MissingRequiredParameterException",               \
    "MissingParameter", 1, "A required parameter is missing.")                                     \
  X(INVALID_PARAMETER_VALUE, 400, "InvalidParameterValue", "InvalidParameterValueException",       \
    "InvalidParameterValue", 1,                                                                    \
    "An invalid or out-of-range value was supplied for the input parameter.")                      \
  X(INVALID_PARAMETER_COMBINATION, 400, "InvalidParameterCombination",                             \
    "InvalidParameterCombination", "InvalidParameterCombination", 1,                               \
    "Two or more parameters cannot be used together.")                                             \
  X(INVALID_QUERY_PARAMETER, 400, "InvalidQueryParameter", "InvalidQueryParameter",                \
    "InvalidQueryParameter", 1,                                                                    \
    "The AWS query string is malformed or does not adhere to AWS standards.")                      \
  X(REQUEST_TOO_LARGE, 413, "RequestEntityTooLarge", "RequestEntityTooLarge",                      \
    "RequestEntityTooLarge", 1, "Request body is too large.")                                      \
  X(HEADERS_TOO_LARGE, 400, "RequestHeaderSectionTooLarge", "RequestHeaderSectionTooLarge",        \
    "RequestHeaderSectionTooLarge", 1,                                                             \
    "Your request header section exceeds the maximum allowed size.")                               \
  X(INVALID_ADDRESS, 404, "InvalidAddress", "InvalidAddress", "InvalidAddress", 1,                 \
    "The address is not valid for this endpoint.")                                                 \
  X(NOT_FOUND, 404, "NotFound", "NotFound", "NotFound", 1, "Not Found")                            \
  X(METHOD_NOT_ALLOWED, 405, "MethodNotAllowed", "MethodNotAllowed", "MethodNotAllowed", 1,        \
    "The specified method is not allowed against this resource.")                                  \
  /* SQS */                                                                                        \
  X(QUEUE_DOES_NOT_EXIST, 400, "QueueDoesNotExist", "QueueDoesNotExist",                           \
    "AWS.SimpleQueueService.NonExistentQueue", 1, "The specified queue does not exist.")           \
  X(QUEUE_NAME_EXISTS, 400, "QueueNameExists", "QueueNameExists", "QueueAlreadyExists", 1,         \
    "A queue already exists with the same name and a different value for attribute")               \
  X(QUEUE_DELETED_RECENTLY, 400, "QueueDeletedRecently", "QueueDeletedRecently",                   \
    "AWS.SimpleQueueService.QueueDeletedRecently", 1,                                              \
    "You must wait 60 seconds after deleting a queue before you can create another with the same " \
    "name.")                                                                                       \
  X(BATCH_IDS_NOT_DISTINCT, 400, "BatchEntryIdsNotDistinct", "BatchEntryIdsNotDistinct",           \
    "AWS.SimpleQueueService.BatchEntryIdsNotDistinct", 1,                                          \
    "Two or more batch entries in the request have the same Id.")                                  \
  X(TOO_MANY_ENTRIES, 400, "TooManyEntriesInBatchRequest", "TooManyEntriesInBatchRequest",         \
    "AWS.SimpleQueueService.TooManyEntriesInBatchRequest", 1,                                      \
    "Maximum number of entries per request are 10.")                                               \
  X(EMPTY_BATCH, 400, "EmptyBatchRequest", "EmptyBatchRequest",                                    \
    "AWS.SimpleQueueService.EmptyBatchRequest", 1,                                                 \
    "There should be at least one entry in the request.")                                          \
  X(BATCH_TOO_LONG, 400, "BatchRequestTooLong", "BatchRequestTooLong",                             \
    "AWS.SimpleQueueService.BatchRequestTooLong", 1,                                               \
    "Batch requests cannot be longer than 1048576 bytes.")                                         \
  X(INVALID_BATCH_ENTRY_ID, 400, "InvalidBatchEntryId", "InvalidBatchEntryId",                     \
    "AWS.SimpleQueueService.InvalidBatchEntryId", 1,                                               \
    "A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can "  \
    "be at most 80 letters long.")                                                                 \
  X(MESSAGE_NOT_INFLIGHT, 400, "MessageNotInflight", "MessageNotInflight",                         \
    "AWS.SimpleQueueService.MessageNotInflight", 1, "The message referred to isn't in flight.")    \
  X(PURGE_IN_PROGRESS, 403, "PurgeQueueInProgress", "PurgeQueueInProgress",                        \
    "AWS.SimpleQueueService.PurgeQueueInProgress", 1,                                              \
    "Only one PurgeQueue operation on the queue is allowed every 60 seconds.")                     \
  X(UNSUPPORTED_OPERATION, 400, "UnsupportedOperation", "UnsupportedOperation",                    \
    "AWS.SimpleQueueService.UnsupportedOperation", 1, "Operation is not supported.")               \
  X(OVER_LIMIT, 403, "OverLimit", "OverLimit", "OverLimit", 1,                                     \
    "The specified action violates a limit.")                                                      \
  X(RESOURCE_NOT_FOUND, 404, "ResourceNotFoundException", "ResourceNotFoundException",             \
    "ResourceNotFoundException", 1, "One or more specified resources don't exist.")                \
  X(RECEIPT_HANDLE_INVALID, 400, "ReceiptHandleIsInvalid", "ReceiptHandleIsInvalid",               \
    "ReceiptHandleIsInvalid", 1, "The specified receipt handle isn't valid.")                      \
  X(INVALID_ATTRIBUTE_NAME, 400, "InvalidAttributeName", "InvalidAttributeName",                   \
    "InvalidAttributeName", 1, "The specified attribute doesn't exist.")                           \
  X(INVALID_ATTRIBUTE_VALUE, 400, "InvalidAttributeValue", "InvalidAttributeValue",                \
    "InvalidAttributeValue", 1, "A queue attribute value is invalid.")                             \
  X(INVALID_MESSAGE_CONTENTS, 400, "InvalidMessageContents", "InvalidMessageContents",             \
    "InvalidMessageContents", 1, "The message contains characters outside the allowed set.")       \
  X(INVALID_SECURITY, 403, "InvalidSecurity", "InvalidSecurity",                                   \
    "AWS.SimpleQueueService.InvalidSecurity", 1,                                                   \
    "The request was not made over HTTPS or did not use SigV4 for signing.")                       \
  /* S3 (the three code columns carry the S3 code) */                                              \
  X(S3_NO_SUCH_BUCKET, 404, "NoSuchBucket", "NoSuchBucket", "NoSuchBucket", 1,                     \
    "The specified bucket does not exist")                                                         \
  X(S3_NO_SUCH_KEY, 404, "NoSuchKey", "NoSuchKey", "NoSuchKey", 1,                                 \
    "The specified key does not exist.")                                                           \
  X(S3_NO_SUCH_VERSION, 404, "NoSuchVersion", "NoSuchVersion", "NoSuchVersion", 1,                 \
    "The specified version does not exist.")                                                       \
  X(S3_ILLEGAL_VERSIONING, 400, "IllegalVersioningConfigurationException",                         \
    "IllegalVersioningConfigurationException", "IllegalVersioningConfigurationException", 1,       \
    "The Versioning element must be specified")                                                    \
  X(S3_BUCKET_EXISTS, 409, "BucketAlreadyOwnedByYou", "BucketAlreadyOwnedByYou",                   \
    "BucketAlreadyOwnedByYou", 1,                                                                  \
    "Your previous request to create the named bucket succeeded and you already own it.")          \
  X(S3_BUCKET_NOT_EMPTY, 409, "BucketNotEmpty", "BucketNotEmpty", "BucketNotEmpty", 1,             \
    "The bucket you tried to delete is not empty")                                                 \
  X(S3_INVALID_BUCKET_NAME, 400, "InvalidBucketName", "InvalidBucketName", "InvalidBucketName", 1, \
    "The specified bucket is not valid.")                                                          \
  X(S3_KEY_TOO_LONG, 400, "KeyTooLongError", "KeyTooLongError", "KeyTooLongError", 1,              \
    "Your key is too long")                                                                        \
  X(S3_INVALID_RANGE, 416, "InvalidRange", "InvalidRange", "InvalidRange", 1,                      \
    "The requested range is not satisfiable")                                                      \
  X(S3_PRECONDITION_FAILED, 412, "PreconditionFailed", "PreconditionFailed", "PreconditionFailed", \
    1, "At least one of the pre-conditions you specified did not hold")                            \
  X(S3_NOT_MODIFIED, 304, "NotModified", "NotModified", "NotModified", 1, "Not Modified")          \
  X(S3_BAD_DIGEST, 400, "BadDigest", "BadDigest", "BadDigest", 1,                                  \
    "The Content-MD5 you specified did not match what we received.")                               \
  X(S3_INVALID_DIGEST, 400, "InvalidDigest", "InvalidDigest", "InvalidDigest", 1,                  \
    "The Content-MD5 you specified was invalid.")                                                  \
  X(S3_SHA256_MISMATCH, 400, "XAmzContentSHA256Mismatch", "XAmzContentSHA256Mismatch",             \
    "XAmzContentSHA256Mismatch", 1,                                                                \
    "The provided 'x-amz-content-sha256' header does not match what was computed.")                \
  X(S3_INCOMPLETE_BODY, 400, "IncompleteBody", "IncompleteBody", "IncompleteBody", 1,              \
    "You did not provide the number of bytes specified by the Content-Length HTTP header")         \
  X(S3_ENTITY_TOO_LARGE, 400, "EntityTooLarge", "EntityTooLarge", "EntityTooLarge", 1,             \
    "Your proposed upload exceeds the maximum allowed object size.")                               \
  X(S3_MISSING_CONTENT_LENGTH, 411, "MissingContentLength", "MissingContentLength",                \
    "MissingContentLength", 1, "You must provide the Content-Length HTTP header.")                 \
  X(S3_INVALID_REQUEST, 400, "InvalidRequest", "InvalidRequest", "InvalidRequest", 1,              \
    "Invalid Request")                                                                             \
  X(S3_INVALID_ARGUMENT, 400, "InvalidArgument", "InvalidArgument", "InvalidArgument", 1,          \
    "Invalid Argument")                                                                            \
  X(S3_INSUFFICIENT_STORAGE, 507, "InsufficientStorage", "InsufficientStorage",                    \
    "InsufficientStorage", 0, "Insufficient storage space to complete the request.")               \
  X(S3_MALFORMED_XML, 400, "MalformedXML", "MalformedXML", "MalformedXML", 1,                      \
    "The XML you provided was not well-formed or did not validate against our published schema")   \
  X(S3_MAX_MESSAGE_LENGTH, 400, "MaxMessageLengthExceeded", "MaxMessageLengthExceeded",            \
    "MaxMessageLengthExceeded", 1, "Your request was too big.")                                    \
  X(S3_NOT_IMPLEMENTED, 501, "NotImplemented", "NotImplemented", "NotImplemented", 1,              \
    "A header you provided implies functionality that is not implemented")                         \
  X(S3_METHOD_NOT_ALLOWED, 405, "MethodNotAllowed", "MethodNotAllowed", "MethodNotAllowed", 1,     \
    "The specified method is not allowed against this resource.")                                  \
  X(S3_INVALID_ACCESS_KEY, 403, "InvalidAccessKeyId", "InvalidAccessKeyId", "InvalidAccessKeyId",  \
    1, "The AWS Access Key Id you provided does not exist in our records.")                        \
  X(S3_TIME_SKEWED, 403, "RequestTimeTooSkewed", "RequestTimeTooSkewed", "RequestTimeTooSkewed",   \
    1, "The difference between the request time and the current time is too large.")               \
  X(S3_AUTH_HEADER_MALFORMED, 400, "AuthorizationHeaderMalformed", "AuthorizationHeaderMalformed", \
    "AuthorizationHeaderMalformed", 1, "The authorization header is malformed.")                   \
  X(S3_AUTH_QUERY_PARAMS, 400, "AuthorizationQueryParametersError",                                \
    "AuthorizationQueryParametersError", "AuthorizationQueryParametersError", 1,                   \
    "Error parsing the X-Amz-Credential parameter.")                                               \
  X(S3_AUTH_QUERY_PARAMS_403, 403, "AuthorizationQueryParametersError",                            \
    "AuthorizationQueryParametersError", "AuthorizationQueryParametersError", 1,                   \
    "X-Amz-Expires must be less than a week (in seconds); that is, the given X-Amz-Expires must "  \
    "be less than 604800 seconds")                                                                 \
  X(S3_NO_SUCH_UPLOAD, 404, "NoSuchUpload", "NoSuchUpload", "NoSuchUpload", 1,                     \
    "The specified upload does not exist. The upload ID may be invalid, or the upload may have "   \
    "been aborted or completed.")                                                                  \
  X(S3_INVALID_PART, 400, "InvalidPart", "InvalidPart", "InvalidPart", 1,                          \
    "One or more of the specified parts could not be found.  The part may not have been "          \
    "uploaded, or the specified entity tag may not match the part's entity tag.")                  \
  X(S3_INVALID_PART_ORDER, 400, "InvalidPartOrder", "InvalidPartOrder", "InvalidPartOrder", 1,     \
    "The list of parts was not in ascending order. Parts must be ordered by part number.")         \
  X(S3_INVALID_PART_NUMBER, 416, "InvalidPartNumber", "InvalidPartNumber", "InvalidPartNumber", 1, \
    "The requested partnumber is not satisfiable")                                                 \
  X(S3_ENTITY_TOO_SMALL, 400, "EntityTooSmall", "EntityTooSmall", "EntityTooSmall", 1,             \
    "Your proposed upload is smaller than the minimum allowed size")                               \
  X(S3_NO_SUCH_CONFIG, 404, "NoSuchConfiguration", "NoSuchConfiguration", "NoSuchConfiguration",   \
    1, "The specified configuration does not exist.")                                              \
  X(S3_METADATA_TOO_LARGE, 400, "MetadataTooLarge", "MetadataTooLarge", "MetadataTooLarge", 1,     \
    "Your metadata headers exceed the maximum allowed metadata size.")                             \
  X(S3_INVALID_LOCATION, 400, "InvalidLocationConstraint", "InvalidLocationConstraint",            \
    "InvalidLocationConstraint", 1, "The specified location-constraint is not valid")              \
  X(S3_ILLEGAL_LOCATION, 400, "IllegalLocationConstraintException",                                \
    "IllegalLocationConstraintException", "IllegalLocationConstraintException", 1,                 \
    "The location constraint is incompatible for the region specific endpoint this request was "   \
    "sent to.")                                                                                    \
  X(S3_INVALID_CHUNK_SIZE, 400, "InvalidChunkSizeError", "InvalidChunkSizeError",                  \
    "InvalidChunkSizeError", 1,                                                                    \
    "Only the last chunk is allowed to have a size less than 8192 bytes")                          \
  X(S3_NO_SUCH_CORS, 404, "NoSuchCORSConfiguration", "NoSuchCORSConfiguration",                    \
    "NoSuchCORSConfiguration", 1, "The CORS configuration does not exist")                         \
  X(S3_CORS_FORBIDDEN, 403, "AccessForbidden", "AccessForbidden", "AccessForbidden", 1,            \
    "CORSResponse: This CORS request is not allowed. This is usually because the evalution of "    \
    "Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers "    \
    "are not whitelisted by the resource's CORS spec.")                                            \
  X(S3_BAD_REQUEST, 400, "BadRequest", "BadRequest", "BadRequest", 1,                              \
    "Insufficient information. Origin request header needed.")                                     \
  X(S3_NO_SUCH_LIFECYCLE, 404, "NoSuchLifecycleConfiguration", "NoSuchLifecycleConfiguration",     \
    "NoSuchLifecycleConfiguration", 1, "The lifecycle configuration does not exist")               \
  X(S3_INVALID_TAG, 400, "InvalidTag", "InvalidTag", "InvalidTag", 1,                              \
    "Your request contains tag input that is not valid.")                                          \
  X(S3_NO_SUCH_TAG_SET, 404, "NoSuchTagSet", "NoSuchTagSet", "NoSuchTagSet", 1,                    \
    "The TagSet does not exist")                                                                   \
  X(S3_MISSING_BODY, 400, "MissingRequestBodyError", "MissingRequestBodyError",                    \
    "MissingRequestBodyError", 1, "Request Body is empty")                                         \
  X(S3_MALFORMED_TRAILER, 400, "MalformedTrailerError", "MalformedTrailerError",                   \
    "MalformedTrailerError", 1,                                                                    \
    "The request contained trailing data that was not well-formed or did not conform to our "      \
    "published schema.")                                                                           \
  X(S3_MALFORMED_POST_REQUEST, 400, "MalformedPOSTRequest", "MalformedPOSTRequest",                \
    "MalformedPOSTRequest", 1,                                                                     \
    "The body of your POST request is not well-formed multipart/form-data.")                       \
  X(S3_MAX_POST_PRE_DATA, 400, "MaxPostPreDataLengthExceeded", "MaxPostPreDataLengthExceeded",     \
    "MaxPostPreDataLengthExceeded", 1,                                                             \
    "Your POST request fields preceeding the upload file was too large.")                          \
  X(S3_INVALID_POLICY_DOCUMENT, 400, "InvalidPolicyDocument", "InvalidPolicyDocument",             \
    "InvalidPolicyDocument", 1,                                                                    \
    "The content of the form does not meet the conditions specified in the policy document.")      \
  X(S3_MALFORMED_POLICY, 400, "MalformedPolicy", "MalformedPolicy", "MalformedPolicy", 1,          \
    "Policies must be valid JSON and the first byte must be '{'")                                  \
  X(S3_NO_SUCH_BUCKET_POLICY, 404, "NoSuchBucketPolicy", "NoSuchBucketPolicy",                     \
    "NoSuchBucketPolicy", 1, "The bucket policy does not exist")                                   \
  X(S3_NO_SUCH_PUBLIC_ACCESS_BLOCK, 404, "NoSuchPublicAccessBlockConfiguration",                   \
    "NoSuchPublicAccessBlockConfiguration", "NoSuchPublicAccessBlockConfiguration", 1,             \
    "The public access block configuration was not found")                                         \
  X(S3_BUCKET_ALREADY_EXISTS, 409, "BucketAlreadyExists", "BucketAlreadyExists",                   \
    "BucketAlreadyExists", 1,                                                                      \
    "The requested bucket name is not available. The bucket namespace is shared by all users of "  \
    "the system. Please select a different name and try again.")                                   \
  X(S3_ACL_NOT_SUPPORTED, 400, "AccessControlListNotSupported", "AccessControlListNotSupported",   \
    "AccessControlListNotSupported", 1, "The bucket does not allow ACLs")                          \
  X(S3_NO_OWNERSHIP_CONTROLS, 404, "OwnershipControlsNotFoundError",                               \
    "OwnershipControlsNotFoundError", "OwnershipControlsNotFoundError", 1,                         \
    "The bucket ownership controls were not found")                                                \
  X(S3_INVALID_BUCKET_ACL_OWNERSHIP, 400, "InvalidBucketAclWithObjectOwnership",                   \
    "InvalidBucketAclWithObjectOwnership", "InvalidBucketAclWithObjectOwnership", 1,               \
    "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting")              \
  X(S3_MISSING_SECURITY_HEADER, 400, "MissingSecurityHeader", "MissingSecurityHeader",             \
    "MissingSecurityHeader", 1, "Your request was missing a required header")                      \
  X(S3_MALFORMED_ACL, 400, "MalformedACLError", "MalformedACLError", "MalformedACLError", 1,       \
    "The XML you provided was not well-formed or did not validate against our published schema")   \
  /* SNS (query protocol; NotFound is NOT_FOUND above) */                                          \
  X(SNS_INVALID_PARAMETER, 400, "InvalidParameter", "InvalidParameter", "InvalidParameter", 1,     \
    "Invalid parameter")                                                                           \
  X(SNS_PARAMETER_VALUE_INVALID, 400, "ParameterValueInvalid", "ParameterValueInvalid",            \
    "ParameterValueInvalid", 1, "Invalid parameter value")                                         \
  X(SNS_VALIDATION_ERROR, 400, "ValidationError", "ValidationError", "ValidationError", 1,         \
    "1 validation error detected")                                                                 \
  X(SNS_AUTHORIZATION_ERROR, 403, "AuthorizationError", "AuthorizationError",                      \
    "AuthorizationError", 1, "User is not authorized to perform this action.")                     \
  X(SNS_RESOURCE_NOT_FOUND, 404, "ResourceNotFound", "ResourceNotFound", "ResourceNotFound", 1,    \
    "Resource does not exist")                                                                     \
  X(SNS_TAG_LIMIT_EXCEEDED, 400, "TagLimitExceeded", "TagLimitExceeded", "TagLimitExceeded", 1,    \
    "Could not complete request: tag quota of per resource exceeded")                              \
  X(SNS_TOO_MANY_ENTRIES, 400, "TooManyEntriesInBatchRequest", "TooManyEntriesInBatchRequest",     \
    "TooManyEntriesInBatchRequest", 1,                                                             \
    "The batch request contains more entries than permissible.")                                   \
  X(SNS_BATCH_IDS_NOT_DISTINCT, 400, "BatchEntryIdsNotDistinct", "BatchEntryIdsNotDistinct",       \
    "BatchEntryIdsNotDistinct", 1, "Two or more batch entries in the request have the same Id.")   \
  X(SNS_BATCH_TOO_LONG, 400, "BatchRequestTooLong", "BatchRequestTooLong", "BatchRequestTooLong",  \
    1, "The length of all the messages put together is more than the limit.")                      \
  X(SNS_EMPTY_BATCH, 400, "EmptyBatchRequest", "EmptyBatchRequest", "EmptyBatchRequest", 1,        \
    "The batch request doesn't contain any entries.")                                              \
  X(SNS_INVALID_BATCH_ENTRY_ID, 400, "InvalidBatchEntryId", "InvalidBatchEntryId",                 \
    "InvalidBatchEntryId", 1,                                                                      \
    "The Id of a batch entry in a batch request doesn't abide by the specification.")              \
  /* CloudWatch (json_type: the shape after "com.amazonaws.cloudwatch#") */                        \
  X(CW_INVALID_PARAMETER_COMBINATION, 400, "InvalidParameterCombination",                          \
    "InvalidParameterCombinationException", "InvalidParameterCombination", 1,                      \
    "Two or more parameters cannot be used together.")                                             \
  X(CW_INVALID_NEXT_TOKEN, 400, "InvalidNextToken", "InvalidNextToken", "InvalidNextToken", 1,     \
    "The next token specified is invalid.")                                                        \
  X(CW_VALIDATION_ERROR, 400, "ValidationError", "ValidationError", "ValidationError", 1,          \
    "The request is not valid.")                                                                   \
  X(CW_LIMIT_EXCEEDED, 400, "LimitExceeded", "LimitExceededFault", "LimitExceeded", 1,             \
    "The quota for this resource has already been reached.")                                       \
  X(CW_INTERNAL_FAULT, 500, "InternalServiceError", "InternalServiceFault",                        \
    "InternalServiceError", 0,                                                                     \
    "Request processing has failed due to some unknown error, exception, or failure.")             \
  X(CW_RESOURCE_NOT_FOUND, 404, "ResourceNotFound", "ResourceNotFound", "ResourceNotFound", 1,     \
    "The named resource does not exist.")                                                          \
  X(CW_DASHBOARD_NOT_FOUND, 404, "ResourceNotFound", "DashboardNotFoundError", "ResourceNotFound", \
    1, "The specified dashboard does not exist.")                                                  \
  X(CW_DASHBOARD_INVALID, 400, "InvalidParameterInput", "DashboardInvalidInputError",              \
    "InvalidParameterInput", 1, "The dashboard body is invalid.")                                  \
  X(CW_RESOURCE_NOT_FOUND_EXC, 404, "ResourceNotFoundException", "ResourceNotFoundException",      \
    "ResourceNotFoundException", 1, "The named resource does not exist.")                          \
  X(CW_INVALID_FORMAT, 400, "InvalidFormat", "InvalidFormatFault", "InvalidFormat", 1,             \
    "Data was not syntactically valid JSON.")                                                      \
  /* CloudWatch Logs (JSON 1.1: __type is json_type) */                                            \
  X(LOGS_RESOURCE_EXISTS, 400, "ResourceAlreadyExistsException", "ResourceAlreadyExistsException", \
    "ResourceAlreadyExistsException", 1, "The specified resource already exists.")                 \
  X(LOGS_RESOURCE_NOT_FOUND, 400, "ResourceNotFoundException", "ResourceNotFoundException",        \
    "ResourceNotFoundException", 1, "The specified resource does not exist.")                      \
  X(LOGS_INVALID_PARAMETER, 400, "InvalidParameterException", "InvalidParameterException",         \
    "InvalidParameterException", 1, "A parameter is specified incorrectly.")                       \
  X(LOGS_LIMIT_EXCEEDED, 400, "LimitExceededException", "LimitExceededException",                  \
    "LimitExceededException", 1,                                                                   \
    "You have reached the maximum number of resources that can be created.")                       \
  X(LOGS_SERVICE_UNAVAILABLE, 500, "ServiceUnavailableException", "ServiceUnavailableException",   \
    "ServiceUnavailableException", 0, "The service cannot complete the request.")                  \
  X(LOGS_ACCESS_DENIED, 400, "AccessDeniedException", "AccessDeniedException",                     \
    "AccessDeniedException", 1, "You do not have sufficient access to perform this action.")       \
  /* the gateway (/_/api/v1) */                                                                    \
  X(GW_BAD_REQUEST, 400, "BadRequest", "BadRequest", "BadRequest", 1, "The request is not valid.") \
  X(GW_UNAUTHORIZED, 401, "Unauthorized", "Unauthorized", "Unauthorized", 1,                       \
    "Authentication is required.")                                                                 \
  X(GW_CONFLICT, 409, "Conflict", "Conflict", "Conflict", 1,                                       \
    "The request conflicts with the resource's current state.")                                    \
  X(GW_PAYLOAD_TOO_LARGE, 413, "PayloadTooLarge", "PayloadTooLarge", "PayloadTooLarge", 1,         \
    "The payload is too large.")                                                                   \
  X(GW_IDEMPOTENCY_MISMATCH, 422, "IdempotencyKeyMismatch", "IdempotencyKeyMismatch",              \
    "IdempotencyKeyMismatch", 1, "This Idempotency-Key was used for a different request.")         \
  X(GW_TOO_MANY_REQUESTS, 429, "TooManyRequests", "TooManyRequests", "TooManyRequests", 1,         \
    "Too many requests.")                                                                          \
  X(GW_LIMIT_EXCEEDED, 400, "LimitExceeded", "LimitExceeded", "LimitExceeded", 1,                  \
    "A limit was exceeded.")

typedef enum {
#define TW_ERR_ENUM(name, status, code, jtype, qcode, sender, msg) TW_ERR_##name,
  TW_ERRORS(TW_ERR_ENUM)
#undef TW_ERR_ENUM
      TW_ERR__COUNT
} tw_err;

typedef struct {
  int http_status;
  const char *code;       /* AWS error code, e.g. "QueueDoesNotExist" */
  const char *json_type;  /* SQS JSON __type suffix */
  const char *query_code; /* legacy code in query XML and x-amzn-query-error */
  int sender;             /* 1: Sender fault, 0: Receiver fault */
  const char *message;    /* default message */
} tw_err_info;

const tw_err_info *tw_err_get(tw_err e);

#endif
