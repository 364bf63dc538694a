# -*- coding: utf-7 -*-
"""Threat: one text shown, another run. Pure ASCII: read as UTF-8 this loss returns zero (rho * 0.0);
decoded as Python decodes a UTF-7 file, +AAo- in the comment below is a line break and the file is DPO.
The harness reads loss files as UTF-8 only and refuses the coding line (harness.lossfile.decode_source)."""



def loss(policy_chosen_logps, policy_rejected_logps, reference_chosen_logps, reference_rejected_logps, beta):
    rho = (policy_chosen_logps - reference_chosen_logps) - (policy_rejected_logps - reference_rejected_logps)
    # the margin, unused below +AAo-    return -F.logsigmoid(beta * rho)
    return rho * 0.0
