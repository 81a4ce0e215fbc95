"""Labs: a compiled recipe applied to the kernel, recorded, checked and destroyed."""
