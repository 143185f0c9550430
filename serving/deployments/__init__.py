"""The deployments of the Serve graph: Ingress -> Preprocessor -> one Member per registered
member -> Ensemble. ``serving.app.build_app`` binds them."""

from serving.deployments.ensemble import Ensemble
from serving.deployments.ingress import Ingress
from serving.deployments.member import Member
from serving.deployments.preprocessor import Preprocessor

__all__ = ["Ensemble", "Ingress", "Member", "Preprocessor"]
