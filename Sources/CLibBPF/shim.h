#ifndef CLIBBPF_SHIM_H
#define CLIBBPF_SHIM_H
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <stdarg.h>
#include <stdio.h>
#endif
