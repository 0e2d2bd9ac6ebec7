# Independent programming of SAP 4.2: proportional odds model of the WHO scale at day 30 or
# discharge on arm, baseline WHO score and the site indicator (ordinal::clm, logit link: the same
# parametrization as MASS::polr, logit P(Y <= j) = theta_j - x beta). Wald 95% CI.
# The odds ratio reported is that of a better (lower) score: exp(-beta_arm).
suppressPackageStartupMessages(library(ordinal))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
d$y <- factor(d$y, ordered = TRUE)
fit <- clm(y ~ arm + who_base + site_dummy, data = d, link = "logit",
           control = clm.control(gradTol = 1e-12, maxIter = 500))
b <- coef(fit)[["arm"]]
se <- sqrt(vcov(fit)["arm", "arm"])
cat(sprintf('{"or": %.17g, "or_lower": %.17g, "or_upper": %.17g, "p_value": %.17g}\n',
  exp(-b), exp(-(b + qnorm(0.975) * se)), exp(-(b - qnorm(0.975) * se)), 2 * pnorm(-abs(b / se))))
