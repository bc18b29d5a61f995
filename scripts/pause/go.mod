// The pod sandbox ("pause") program of the ianvs-lab test node: standard library only.
module ianvs-lab/testenv/pause

go 1.25.0
