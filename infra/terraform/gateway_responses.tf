# API Gateway's own answers in the contract's Error shape (docs/API_CONTRACT.yml, x-gateway-responses).
# What API Gateway refuses or fails by itself never reaches chalicelib/web.py: without these a client
# gets {"message": "Missing Authentication Token"} (403) for an unknown route and {"message": ...} for
# throttling and timeouts. Gateway response templates are not VTL: only $context variables are
# substituted, and $context.error.messageString is API Gateway's own message, already a quoted JSON
# string. tests/test_infra_gateway.py renders each body and checks it against the contract.
# A change here reaches the stage through a new deployment (chalice_override.tf hashes these in).

locals {
  # Response type => the status to answer (null: API Gateway's own), the contract code, the message
  # (null: API Gateway's own) and a Retry-After in seconds (null: none).
  gateway_responses = {
    # An unknown path, or a method its path does not serve: API Gateway cannot tell the two apart.
    MISSING_AUTHENTICATION_TOKEN = {
      status_code = "404"
      code        = "NOT_FOUND"
      error       = "no such route: every path of this API starts with /api/movies-on-demand/ and serves only the methods docs/API_CONTRACT.yml lists"
      retry_after = null
    }
    RESOURCE_NOT_FOUND = {
      status_code = "404"
      code        = "NOT_FOUND"
      error       = "no such route: every path of this API starts with /api/movies-on-demand/ and serves only the methods docs/API_CONTRACT.yml lists"
      retry_after = null
    }
    THROTTLED = {
      status_code = "429"
      code        = "RATE_LIMITED"
      error       = "too many requests: this API's rate limit was reached; retry after Retry-After seconds"
      retry_after = 1
    }
    QUOTA_EXCEEDED = {
      status_code = "429"
      code        = "RATE_LIMITED"
      error       = "too many requests: this API's quota was reached; retry after Retry-After seconds"
      retry_after = 60
    }
    # Past API Gateway's 29 s limit the service may still finish what it started (a fetch its job).
    INTEGRATION_TIMEOUT = {
      status_code = "504"
      code        = "TIMEOUT"
      error       = "the service took longer than API Gateway's 29 s limit; the request may still complete: repeat it, or poll GET /jobs"
      retry_after = null
    }
    # Everything else API Gateway answers itself (413 body too large, a 5xx when it got no answer…).
    DEFAULT_4XX = {
      status_code = null
      code        = "GATEWAY_ERROR"
      error       = null
      retry_after = null
    }
    DEFAULT_5XX = {
      status_code = null
      code        = "GATEWAY_ERROR"
      error       = null
      retry_after = null
    }
  }
}

resource "aws_api_gateway_gateway_response" "contract" {
  for_each = local.gateway_responses

  rest_api_id   = aws_api_gateway_rest_api.rest_api.id
  response_type = each.key
  status_code   = each.value.status_code

  response_templates = {
    "application/json" = format(
      "{\"error\":%s,\"code\":\"%s\",\"request_id\":\"$context.requestId\"}",
      each.value.error == null ? "$context.error.messageString" : jsonencode(each.value.error),
      each.value.code,
    )
  }

  # As the app's own answers: readable by browser clients, never cached.
  response_parameters = merge(
    {
      "gatewayresponse.header.Access-Control-Allow-Origin"   = "'${var.cors_allow_origin}'"
      "gatewayresponse.header.Access-Control-Expose-Headers" = "'Retry-After'"
      "gatewayresponse.header.Cache-Control"                 = "'no-store'"
    },
    each.value.retry_after == null ? {} : {
      "gatewayresponse.header.Retry-After" = "'${each.value.retry_after}'"
    },
  )
}
