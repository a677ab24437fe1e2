// SPDX-License-Identifier: GPL-2.0-only
/*
 * vdso-probe: does the kernel's vDSO work? (lto-harness `vdso.boot`)
 *
 *   vdso-probe SYMBOL       e.g. __vdso_clock_gettime, __kernel_clock_gettime
 *
 * Finds the vDSO through AT_SYSINFO_EHDR, reads its dynamic symbol table
 * (DT_HASH or DT_GNU_HASH, DT_SYMTAB, DT_STRTAB), looks SYMBOL up, calls it
 * for CLOCK_MONOTONIC between two clock_gettime system calls and checks
 * the three readings are ordered. A vDSO built with the LTO flags exports
 * nothing (hidden visibility), and libc then silently falls back to the
 * system call: only a lookup like this one notices. Prints one line:
 *
 *   @@LTOH FACT vdso exports=<n> symbol=<name> found=<0|1> rc=<r>
 *       before=<ns> vdso=<ns> after=<ns> ordered=<0|1>
 *
 * and exits 0 when the symbol was found, returned 0 and the readings are
 * ordered. Built static with the kernel's clang, like lto-bench.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

typedef int (*clock_gettime_fn)(clockid_t, struct timespec *);

static long long ns(const struct timespec *t)
{
	return (long long)t->tv_sec * 1000000000LL + t->tv_nsec;
}

/* Number of symbols in a DT_GNU_HASH table: past the last chain's end. */
static uint32_t gnu_hash_count(const uint32_t *h)
{
	uint32_t nbuckets = h[0], symoffset = h[1], bloom_size = h[2];
	const uint32_t *buckets = h + 4 + bloom_size * (sizeof(uintptr_t) / 4);
	const uint32_t *chain = buckets + nbuckets;
	uint32_t last = 0;

	for (uint32_t i = 0; i < nbuckets; i++)
		if (buckets[i] > last)
			last = buckets[i];
	if (last < symoffset)
		return symoffset;
	while (!(chain[last - symoffset] & 1))
		last++;
	return last + 1;
}

int main(int argc, char **argv)
{
	const char *want = argc > 1 ? argv[1] : "__vdso_clock_gettime";
	uintptr_t base = getauxval(AT_SYSINFO_EHDR);
	if (!base) {
		printf("@@LTOH FACT vdso exports=0 symbol=%s found=0 rc=-1 before=0 vdso=0 after=0 ordered=0 no_sysinfo_ehdr=1\n", want);
		return 1;
	}
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)base;
	const Elf64_Phdr *ph = (const Elf64_Phdr *)(base + eh->e_phoff);
	intptr_t load = 0;
	const Elf64_Dyn *dyn = NULL;
	for (int i = 0; i < eh->e_phnum; i++) {
		if (ph[i].p_type == PT_LOAD && ph[i].p_offset == 0)
			load = (intptr_t)base - (intptr_t)ph[i].p_vaddr;
		if (ph[i].p_type == PT_DYNAMIC)
			dyn = (const Elf64_Dyn *)(base + ph[i].p_offset);
	}
	const Elf64_Sym *symtab = NULL;
	const char *strtab = NULL;
	const uint32_t *hash = NULL, *gnu_hash = NULL;
	for (; dyn && dyn->d_tag != DT_NULL; dyn++) {
		uintptr_t p = dyn->d_un.d_ptr + load;
		switch (dyn->d_tag) {
		case DT_SYMTAB: symtab = (const Elf64_Sym *)p; break;
		case DT_STRTAB: strtab = (const char *)p; break;
		case DT_HASH: hash = (const uint32_t *)p; break;
		case DT_GNU_HASH: gnu_hash = (const uint32_t *)p; break;
		}
	}
	uint32_t count = 0;
	if (hash)
		count = hash[1];
	else if (gnu_hash)
		count = gnu_hash_count(gnu_hash);
	int exports = 0;
	clock_gettime_fn fn = NULL;
	for (uint32_t i = 0; symtab && strtab && i < count; i++) {
		const Elf64_Sym *s = &symtab[i];
		int bind = ELF64_ST_BIND(s->st_info);
		if (s->st_shndx == SHN_UNDEF || (bind != STB_GLOBAL && bind != STB_WEAK))
			continue;
		exports++;
		if (!fn && strcmp(strtab + s->st_name, want) == 0)
			fn = (clock_gettime_fn)(s->st_value + load);
	}
	struct timespec before = {0}, v = {0}, after = {0};
	int rc = -1;
	syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &before);
	if (fn)
		rc = fn(CLOCK_MONOTONIC, &v);
	syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &after);
	int ordered = fn && rc == 0 && ns(&before) <= ns(&v) && ns(&v) <= ns(&after);
	printf("@@LTOH FACT vdso exports=%d symbol=%s found=%d rc=%d before=%lld vdso=%lld after=%lld ordered=%d\n",
	       exports, want, fn != NULL, rc, ns(&before), ns(&v), ns(&after), ordered);
	return ordered ? 0 : 1;
}
