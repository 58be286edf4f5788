/* The fiber switch for x86-64 System V: only what the ABI says a call preserves
 * (rbx, rbp, r12-r15, the MXCSR control bits and the x87 control word) is saved,
 * on the switching stack; the stack pointer goes into the fos__ctx. The CFI lets
 * gdb unwind a parked fiber from inside this function, and the trampoline marks
 * the outermost frame of every fiber. */

    .text

    .globl fos__ctx_switch
    .type fos__ctx_switch, @function
    .align 16
/* void fos__ctx_switch(fos__ctx *from (rdi), fos__ctx *to (rsi)) */
fos__ctx_switch:
    .cfi_startproc
    pushq %rbp
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %rbp, 0
    pushq %rbx
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %rbx, 0
    pushq %r12
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %r12, 0
    pushq %r13
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %r13, 0
    pushq %r14
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %r14, 0
    pushq %r15
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %r15, 0
    subq $8, %rsp
    .cfi_adjust_cfa_offset 8
    stmxcsr (%rsp)
    fnstcw 4(%rsp)
    movq %rsp, (%rdi)
    movq 8(%rdi), %rax
    testq %rax, %rax
    jz 1f
    movq %rsp, (%rax)
1:
    /* The new stack has the same layout, so the CFI above still describes it. */
    movq (%rsi), %rsp
    ldmxcsr (%rsp)
    fldcw 4(%rsp)
    addq $8, %rsp
    .cfi_adjust_cfa_offset -8
    popq %r15
    .cfi_adjust_cfa_offset -8
    .cfi_restore %r15
    popq %r14
    .cfi_adjust_cfa_offset -8
    .cfi_restore %r14
    popq %r13
    .cfi_adjust_cfa_offset -8
    .cfi_restore %r13
    popq %r12
    .cfi_adjust_cfa_offset -8
    .cfi_restore %r12
    popq %rbx
    .cfi_adjust_cfa_offset -8
    .cfi_restore %rbx
    popq %rbp
    .cfi_adjust_cfa_offset -8
    .cfi_restore %rbp
    ret
    .cfi_endproc
    .size fos__ctx_switch, .-fos__ctx_switch

    .globl fos__ctx_trampoline
    .hidden fos__ctx_trampoline
    .type fos__ctx_trampoline, @function
    .align 16
/* First code of every fiber: entered by fos__ctx_switch's ret with the entry
 * function in r13 and its argument in r12. */
fos__ctx_trampoline:
    .cfi_startproc
    .cfi_undefined %rip
    movq %r12, %rdi
    callq *%r13
    ud2
    .cfi_endproc
    .size fos__ctx_trampoline, .-fos__ctx_trampoline

    .section .note.GNU-stack,"",@progbits
