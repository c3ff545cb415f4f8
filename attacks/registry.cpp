// The attack table. Attack engines (FGSM, PGD-Linf, PGD-L2) are added here one row each.
namespace questbench {}
