/* The CloudWatch Logs service for the registry (app.c). */
#ifndef TW_LOGS_LOGS_HTTP_H
#define TW_LOGS_LOGS_HTTP_H
#include "http/service.h"

extern const tw_service tw_logs_service;

#endif
